"""What a batch of entries does to a replica: pure decisions, no disk.

- ``triage``: which received entries to store. An entry is stored only when its
  seq is the next one of its origin, so logs stay gap-free and the version
  vector is one number per origin. At or below: a duplicate. Above: early,
  dropped, because some in-order stream will bring it.
- ``wins``: last-writer-wins on the version ``(hlc, origin)``.
- ``plan_commit``: for entries already triaged, which become their key's winning
  version and how the digest, the live-key count, the HLC high-water mark and the
  vv move. The digest covers live keys only (XOR of their versions' hashes): a
  tombstone collected by GC on one node and not yet on another must not make two
  replicas holding the same live data look different (docs/compaction.md). The
  LevelDB ``Store`` persists exactly this plan; the in-memory replica of the tests
  applies the same plan, so the property tests check shipped logic.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.protocol.ops import LIVE

Version = tuple[int, str]  # (hlc, origin): compared as a tuple, the larger wins
Head = tuple[int, str, int, int]  # a key's winning version: (hlc, origin, op, hash)


def wins(new: Version, current: Version | None) -> bool:
    """Last-writer-wins: does ``new`` replace ``current`` as the key's version?"""
    return current is None or new > current


HASH_HEAD = struct.Struct(">IQB")  # len(key), hlc, op; then key, origin


def key_hash(key: bytes, hlc: int, origin: str, op: int) -> int:
    """The hash of one key's winning version; the digest XORs these."""
    data = HASH_HEAD.pack(len(key), hlc, op) + key + origin.encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


@dataclass
class Triage:
    accepted: list[pb.Entry] = field(default_factory=list)
    duplicates: int = 0
    early: int = 0
    duplicate_entries: list[pb.Entry] = field(default_factory=list)  # to compare with ours
    vv: dict[str, int] = field(default_factory=dict)  # the new vv values of touched origins


def triage(vv: Mapping[str, int], entries: Iterable[pb.Entry]) -> Triage:
    """Split received entries into the ones to store, duplicates and early ones."""
    out = Triage()
    accepted, seen = out.accepted, out.vv
    dups = early = 0
    for entry in entries:
        origin, seq = entry.origin, entry.seq
        have = seen.get(origin)
        if have is None:
            have = vv.get(origin, 0)
        if seq == have + 1:
            accepted.append(entry)
            seen[origin] = seq
        elif seq <= have:
            dups += 1
            out.duplicate_entries.append(entry)
        else:
            early += 1
    out.duplicates, out.early = dups, early
    return out


def conflict(
    duplicates: Iterable[pb.Entry], read: Callable[[str, int, int], list[pb.Entry]]
) -> pb.Entry | None:
    """The first received duplicate whose (origin, seq) this replica holds with other
    content: two writes under one name, which must never be applied or dropped quietly."""
    for dup in duplicates:
        held = read(dup.origin, dup.seq, dup.seq)
        if held and held[0] != dup:
            return dup
    return None


@dataclass
class CommitPlan:
    """The effect of one batch: persist ``winners`` as state, every entry as log."""

    won: list[bool]  # per entry: did it become its key's winning version
    winners: list[tuple[pb.Entry, int]]  # (entry, version hash) in batch order
    heads: dict[bytes, Head]  # the new head of every key the batch changed
    digest: int
    keys: int
    hlc: int
    vv: dict[str, int]  # the new top of every origin in the batch
    # Keys whose tombstone index may change: the tombstone they held before the batch
    # (None: none, but the batch leaves a tombstone candidate there).
    old: dict[bytes, Head | None] = field(default_factory=dict)
    tops: dict[str, int] = field(default_factory=dict)  # hlc of each origin's last entry


def plan_commit(
    entries: Iterable[pb.Entry],
    head_of: Callable[[bytes], Head | None],
    digest: int,
    keys: int,
    hlc: int,
) -> CommitPlan:
    """Decide last-writer-wins for entries already triaged (contiguous per origin).

    ``head_of(key)`` returns the key's current winning version before this batch.
    This runs for every write in the cluster, so per-batch state stays in locals.
    """
    pending: dict[bytes, Head] = {}
    won: list[bool] = []
    winners: list[tuple[pb.Entry, int]] = []
    vv: dict[str, int] = {}
    tops: dict[str, int] = {}
    old: dict[bytes, Head | None] = {}
    for e in entries:
        origin, key, ehlc, op = e.origin, e.key, e.hlc, e.op
        vv[origin] = e.seq
        tops[origin] = ehlc
        if ehlc > hlc:
            hlc = ehlc
        current = pending.get(key)
        if current is None:
            current = head_of(key)
            if current is not None:
                if not (ehlc, origin) > current[:2]:
                    won.append(False)
                    continue
                if current[2] not in LIVE:
                    old[key] = current  # a tombstone this batch replaces
        elif not (ehlc, origin) > current[:2]:
            won.append(False)
            continue
        vhash = key_hash(key, ehlc, origin, op)
        if current is not None and current[2] in LIVE:
            digest ^= current[3]
            keys -= 1
        if op in LIVE:
            digest ^= vhash
            keys += 1
        else:
            old.setdefault(key, None)  # a tombstone may be the key's new head
        pending[key] = (ehlc, origin, op, vhash)
        winners.append((e, vhash))
        won.append(True)
    return CommitPlan(won, winners, pending, digest, keys, hlc, vv, old, tops)
