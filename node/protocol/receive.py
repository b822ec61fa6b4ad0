"""What a replica does with a peer's batch, decided in one place: the checks in the
order that ships, then which entries to store (issue 26).

``Replica.apply_remote`` and the property tests' in-memory replica both call
``receive``, so the tests judge the same pipeline the node runs: the whole batch is
checked (bounds, well-formed entries, each origin's clock rising with its seq), then
held if dated too far ahead, then triaged (next in line, duplicate, early), then its
duplicates compared with what is held (a fork), then refused if an entry is older than
a tombstone this node collected. The caller observes the clock and commits what is
accepted; nothing here touches a disk, a socket or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.apply import conflict, triage
from node.protocol.errors import Held, Refused
from node.protocol.horizon import first_stale, stale_message
from node.protocol.validate import WriteLimits, check_received, check_skew


@dataclass(frozen=True)
class Rules:
    """The receiver's standing rules, from its configuration."""

    own: str  # the receiver's origin: no peer may send entries under it
    name: str  # the receiver's node name, for messages
    limits: WriteLimits
    max_batch_entries: int
    max_skew_ms: int


@dataclass(frozen=True)
class Holding:
    """What the receiver holds when the batch arrives."""

    vv: Mapping[str, int]
    tops: Mapping[str, int]  # per origin: the hlc of its entry at vv[origin]
    horizon: int  # the newest tombstone collected here (0: none)
    read_log: Callable[[str, int, int], list[pb.Entry]]  # (origin, first, last seq)


@dataclass(frozen=True)
class Receipt:
    """What to do with a batch that passed the checks."""

    accepted: list[pb.Entry]  # next in line, in order: store these
    duplicates: int  # already held with the same content
    early: int  # past a gap: some in-order stream brings them
    fork: pb.Entry | None = None  # a duplicate held with other content: nothing is stored


def receive(
    entries: Sequence[pb.Entry], peer: str, rules: Rules, held: Holding, wall_ms: int
) -> Receipt:
    """Judge a batch from ``peer``. ``Refused`` (the stream ends: a bad batch, or an entry
    older than a collected tombstone) and ``Held`` (dated too far ahead: nothing applied,
    the link retries) name their ``remesh_rejected_total`` reason in ``reason``."""
    try:
        limits, most = rules.limits, rules.max_batch_entries
        check_received(entries, limits, rules.own, peer, most, (held.vv, held.tops))
    except Refused as exc:
        exc.reason = "too_large" if exc.kind == "exhausted" else "bad_entry"
        raise
    try:
        check_skew(entries, wall_ms, rules.max_skew_ms, peer)
    except Held as exc:
        exc.reason = "clock_skew"
        raise
    result = triage(held.vv, entries)
    fork = conflict(result.duplicate_entries, held.read_log)
    if fork is not None:
        return Receipt([], result.duplicates, result.early, fork)
    stale = first_stale(result.accepted, held.horizon)
    if stale is not None:
        refused = Refused(stale_message(stale, peer, rules.name, held.horizon))
        refused.reason = "stale"
        raise refused
    return Receipt(result.accepted, result.duplicates, result.early)
