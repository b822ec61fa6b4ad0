"""The replication decisions, pure: no sockets, no clock, no disk.

Everything that decides what a node stores and what it sends lives here so it
can be tested exhaustively (see tests/unit/test_core_properties.py) and shared
by the LevelDB store and the in-memory replica used by those tests.

- ``triage``: which received entries to store. An entry is stored only when its
  seq is the next one of its origin, so logs stay gap-free and the version
  vector is one number per origin. At or below: a duplicate. Above: early,
  dropped, because some in-order stream will bring it.
- ``wins``: last-writer-wins on the version ``(hlc, origin)``.
- ``Cursor``: where one subscriber stands, per origin, on a server's log.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb

Version = tuple[int, str]  # (hlc, origin): compared as a tuple, the larger wins


def wins(new: Version, current: Version | None) -> bool:
    """Last-writer-wins: does ``new`` replace ``current`` as the key's version?"""
    return current is None or new > current


_HASH_HEAD = struct.Struct(">IQB")


def key_hash(key: bytes, hlc: int, origin: str, op: int) -> int:
    """The hash of one key's winning version; the digest XORs these."""
    data = _HASH_HEAD.pack(len(key), hlc, op) + key + origin.encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


@dataclass
class Triage:
    accepted: list[pb.Entry] = field(default_factory=list)
    duplicates: int = 0
    early: int = 0
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
        else:
            early += 1
    out.duplicates, out.early = dups, early
    return out


def exclusions(peer: str, connected: Iterable[str]) -> list[str]:
    """Origins a subscriber asks ``peer`` not to send: those it has a live direct link to.

    Each origin holds all of its own entries, so a live direct link to it is a
    complete source; asking relays to skip it makes a healthy full mesh send
    each write over each link once. When a direct link drops, its origin is
    taken off the list and relays fill in from the subscriber's acked vv.
    """
    return sorted(set(connected) - {peer})


class Cursor:
    """A subscriber's position on this server's log, per origin.

    ``pos[o]`` is the highest seq of origin ``o`` the subscriber holds or has
    been sent on this stream. It starts at the subscriber's vv from Hello, moves
    on every send and jumps forward on acks (the subscriber may have got the
    entries elsewhere). Never sends the subscriber its own entries (no echo).
    """

    def __init__(self, subscriber: str, vv: Mapping[str, int], exclude: Iterable[str] = ()):
        self.subscriber = subscriber
        self.pos: dict[str, int] = dict(vv)
        self.acked: dict[str, int] = dict(vv)
        self.exclude: set[str] = set(exclude)

    def on_ack(self, vv: Mapping[str, int]) -> None:
        for origin, seq in vv.items():
            if seq > self.acked.get(origin, 0):
                self.acked[origin] = seq
            if seq > self.pos.get(origin, 0):
                self.pos[origin] = seq

    def set_exclude(self, exclude: Iterable[str]) -> None:
        self.exclude = set(exclude)

    def on_sent(self, entries: Iterable[pb.Entry]) -> None:
        for entry in entries:
            if entry.seq > self.pos.get(entry.origin, 0):
                self.pos[entry.origin] = entry.seq

    def ranges(self, have: Mapping[str, int], limit: int) -> list[tuple[str, int, int]]:
        """Inclusive seq ranges ``(origin, first, last)`` to send next, ``limit`` entries at most.

        The budget is shared fairly so one busy origin cannot starve the others.
        """
        pending = [
            (origin, self.pos.get(origin, 0) + 1, top)
            for origin, top in sorted(have.items())
            if origin != self.subscriber
            and origin not in self.exclude
            and top > self.pos.get(origin, 0)
        ]
        out: list[tuple[str, int, int]] = []
        budget = limit
        for i, (origin, first, top) in enumerate(pending):
            if budget <= 0:
                break
            share = max(1, budget // (len(pending) - i))
            last = min(top, first + share - 1)
            out.append((origin, first, last))
            budget -= last - first + 1
        return out

    def lag(self, have: Mapping[str, int]) -> int:
        """Entries this server holds that the subscriber has not acknowledged."""
        return sum(
            max(0, top - self.acked.get(origin, 0))
            for origin, top in have.items()
            if origin != self.subscriber
        )


class MemoryReplica:
    """An in-memory replica over the same decisions as the LevelDB store.

    Used by the property tests to check convergence under any delivery order.
    """

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.vv: dict[str, int] = {}
        self.log: dict[str, list[pb.Entry]] = {}
        self.state: dict[bytes, pb.Entry] = {}
        self.hlc = 0
        self.digest = 0

    def write(self, key: bytes, value: bytes | None, physical_ms: int) -> pb.Entry:
        ms = max(self.hlc >> 16, physical_ms)
        self.hlc = (ms << 16) | (((self.hlc & 0xFFFF) + 1) if ms == self.hlc >> 16 else 0)
        seq = self.vv.get(self.node_id, 0) + 1
        entry = pb.Entry(
            origin=self.node_id,
            seq=seq,
            hlc=self.hlc,
            key=key,
            op=pb.DELETE if value is None else pb.PUT,
            value=value or b"",
        )
        self.receive([entry])
        return entry

    def receive(self, entries: Iterable[pb.Entry]) -> Triage:
        result = triage(self.vv, entries)
        for entry in result.accepted:
            self.hlc = max(self.hlc, entry.hlc)
            self.log.setdefault(entry.origin, []).append(entry)
            current = self.state.get(entry.key)
            cur_version = (current.hlc, current.origin) if current else None
            if wins((entry.hlc, entry.origin), cur_version):
                if current is not None:
                    self.digest ^= key_hash(current.key, current.hlc, current.origin, current.op)
                self.digest ^= key_hash(entry.key, entry.hlc, entry.origin, entry.op)
                self.state[entry.key] = entry
        self.vv.update(result.vv)
        return result

    def read(self, origin: str, first: int, last: int) -> list[pb.Entry]:
        return self.log.get(origin, [])[first - 1 : last]

    def live(self) -> dict[bytes, bytes]:
        return {k: e.value for k, e in self.state.items() if e.op == pb.PUT}
