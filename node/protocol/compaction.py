"""Bounded disk, pure: how far each origin's log may be truncated, which tombstones may
be collected, and when a subscriber needs (or is better served by) a snapshot. No
disk, no clock: the caller passes what its members acknowledged and the time.

*Members* are a node's current peers (``SetPeers``): exactly the nodes that subscribe
to it, so exactly the readers of its log. Acknowledgements are never persisted: after
a restart nothing is truncated or collected until every member has acknowledged again.

- **Log truncation**: origin O's log may drop its prefix up to the minimum over members
  of what each has *durably* acknowledged of O, less ``retain_entries`` (and, applied by
  the caller, no entry younger than ``retain_ms``). A member never heard from in this
  process pins every origin at 0; a member that is down pins at its last durable ack.
  Anyone else below the point (a new node, a wiped one) gets a snapshot, and so does
  a member whose stream has been closed longer than ``pin_timeout_ms``.
- **GC floor**: an hlc under which this node will never again write or receive an
  entry. What a member (or this node) writes from now on is dated after the clock it
  acknowledged. What members already hold and this node lacks of origin O is dated
  after ``tops[O]`` (the hlc of this node's entry at vv[O]): an origin's hlc grows with
  its seq. So the floor is the minimum of every member's clock, this node's, and
  ``tops[O]`` for each origin some member holds further than this node (0 if this node
  holds none of it). That covers every entry only when the members see one member set:
  each member's peers plus itself equal this node's (a full mesh, agreed membership).
  In a relay topology a node beyond the neighbours could hold entries no neighbour has,
  so the floor is 0 there and tombstones stay (log truncation is unaffected). A member
  not acknowledging on an open stream also makes it 0.
- **Tombstone GC**: a tombstone may go once its hlc is at or below the floor, every member
  acknowledged its (origin, seq), and it is older than ``grace_ms`` by the wall clock
  (the margin for writers no member knows yet: a node being added; it assumes clocks
  within ``grace_ms`` of each other). Nothing older than it can arrive any more, so
  dropping it cannot let an older put win.
- **Reclaiming disk**: what truncation and GC delete stays on disk as LevelDB tables
  (and deletion markers) until a compaction rewrites them; LevelDB starts one on its
  own only when a level grows past its size, which a bounded store never does. So the
  node asks for one over what it deleted (``reclaim_due``), once the garbage is a large
  enough share of the live data that the rewrite is paid for by what it frees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from node.protocol.hlc import unpack


@dataclass(frozen=True)
class MemberAck:
    """What one member last acknowledged to this node (its latest stream)."""

    vv: Mapping[str, int] = field(default_factory=dict)  # what it holds
    durable: Mapping[str, int] = field(default_factory=dict)  # what it holds durably
    clock: int = 0  # its HLC when it acknowledged (0: unknown)
    members: frozenset[str] = frozenset()  # its peers when it acknowledged
    open: bool = False  # its stream is open and has acknowledged at least once
    since_s: float = 0.0  # seconds since it last acknowledged


Members = Mapping[str, "MemberAck | None"]  # None: a member never heard from


@dataclass(frozen=True)
class Truncation:
    """How far one origin's log may go, and who holds it back."""

    point: int  # drop entries 1..point
    pinned_by: str = ""  # the member whose durable ack is lowest ("" when none)
    acked: int = 0  # what that member durably acknowledged


def truncation_points(
    vv: Mapping[str, int], members: Members, retain_entries: int, pin_timeout_s: float = 0
) -> dict[str, Truncation]:
    """Per origin this node holds: the seq its log may be truncated to (never above
    the member minimum, never within the last ``retain_entries``). A member that has
    not acknowledged for ``pin_timeout_s`` (when set) no longer holds it back: it
    will need a snapshot when it comes back."""
    out: dict[str, Truncation] = {}
    for origin, top in vv.items():
        point, pinned_by, acked = top, "", top
        for name in sorted(members):
            ack = members[name]
            if ack is not None and pin_timeout_s and not ack.open and ack.since_s > pin_timeout_s:
                continue
            held = min(ack.durable.get(origin, 0), ack.vv.get(origin, 0)) if ack else 0
            if held < acked:
                pinned_by, acked = name, held
        point = max(0, min(acked, top - retain_entries))
        out[origin] = Truncation(point, pinned_by, acked)
    return out


def age_cut(first: int, last: int, hlc_at: Callable[[int], int], cutoff_ms: int) -> int:
    """The highest seq in ``first..last`` whose entry is dated at or before ``cutoff_ms``
    (``first - 1`` when none is), by bisection: an origin's hlc grows with its seq."""
    lo, hi = first - 1, last
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if unpack(hlc_at(mid))[0] <= cutoff_ms:
            lo = mid
        else:
            hi = mid - 1
    return lo


def gc_floor(
    vv: Mapping[str, int], tops: Mapping[str, int], members: Members, me: str, clock: int
) -> int:
    """The hlc under which this node will never write or receive another entry (0: no
    such bound is known). ``tops[origin]``: the hlc of this node's entry at vv[origin];
    ``clock``: this node's own HLC."""
    everyone = frozenset(members) | {me}
    floor = clock
    for name, ack in members.items():
        if ack is None or not ack.open or not ack.clock:
            return 0
        if ack.members | {name} != everyone:
            return 0  # not one agreed full mesh: someone beyond may hold unknown entries
        floor = min(floor, ack.clock)
        for origin, seq in ack.vv.items():
            if seq > vv.get(origin, 0):  # it holds entries of origin this node lacks
                floor = min(floor, tops.get(origin, 0))
    return floor


def collectable(
    hlc: int,
    origin: str,
    seq: int,
    floor: int,
    members: Members,
    wall_ms: int,
    grace_ms: int,
) -> bool:
    """May the tombstone ``(hlc, origin, seq)`` be dropped from the state?"""
    if not floor or hlc > floor or unpack(hlc)[0] > wall_ms - grace_ms:
        return False
    return all(ack is not None and ack.vv.get(origin, 0) >= seq for ack in members.values())


def needs_snapshot(
    pos: Mapping[str, int], truncated: Mapping[str, int], subscriber_origin: str
) -> list[str]:
    """Origins whose log this server no longer holds from where the subscriber stands
    (its own current origin aside: that is never sent back to it)."""
    return sorted(
        origin
        for origin, point in truncated.items()
        if origin != subscriber_origin and pos.get(origin, 0) < point
    )


SNAPSHOT_MIN_LAG = 10_000  # below this a log tail is cheap whatever the state's size


def snapshot_cheaper(lag: int, records: int, ratio: float, min_lag: int = SNAPSHOT_MIN_LAG) -> bool:
    """Send a subscriber that lacks ``lag`` log entries the state (``records`` keys and
    tombstones) rather than the log? Merging a record costs a replica about what applying
    an entry does where it holds the key, and much less where it holds nothing (packed
    records written in bulk, no log record), so once the entries outnumber the records
    ``ratio`` times over the snapshot is the faster catch-up: a node down while keys were
    overwritten many times is sent each key once (docs/performance.md measures both).
    ``ratio`` 0: only when the log is truncated (``needs_snapshot``)."""
    return ratio > 0 and lag >= min_lag and lag > ratio * records


RECLAIM_MIN = 1000  # deletions (log entries, tombstones) worth a compaction while busy


def reclaim_due(garbage: int, live: int, idle: bool) -> bool:
    """Compact away ``garbage`` deleted records now? ``live``: records held (state keys,
    tombstones, log entries). While writes go on, once the garbage reaches half the live
    records (and ``RECLAIM_MIN``), so disk stays within a small multiple of the data and
    each compaction's rewrite of the live data costs at most twice what it frees; when a
    round deleted nothing (``idle``), at any amount that is a sixteenth of the live
    records, so a quiet node settles near its data: what a burst's last compaction left
    behind would otherwise sit in LevelDB's tables for good (below ``RECLAIM_MIN`` a busy
    node never returns to it)."""
    if idle:
        return garbage > 0 and 16 * garbage >= live
    return garbage >= RECLAIM_MIN and 2 * garbage >= live
