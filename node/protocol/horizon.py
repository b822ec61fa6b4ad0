"""The GC horizon: what a node can no longer judge, so must never receive.

A node's *horizon* is the newest version (hlc) of any tombstone it has collected, or
that the peer whose snapshot it merged had collected (the snapshot omits those keys).
After collecting tombstone T, a node cannot tell whether a put older than T lost to
it: the evidence is gone. The GC floor (``compaction.gc_floor``) guarantees no such put
can still arrive from a current member: everything any member held at or below the
floor was held here, and every member writes after the clock it acknowledged. So an
entry that reaches this node for the first time dated at or below its horizon comes
from outside that guarantee: a data directory restored from a copy older than the
collection, a node that was away while its former incarnation was collected past, or
clocks further apart than ``tombstone_grace_ms``. Applying it could let a deleted key
come back; dropping it could lose a write nobody deleted; only a person can decide.

Two guards, both refusing rather than guessing:

- **On receipt** (``first_stale``): a batch carrying such an entry is refused whole,
  with the entry, the sender and the horizon named. Nothing of it is applied.
- **At the source** (``StaleCheck``): a node that starts over a data directory holding
  data asks every peer's Welcome for its vv and horizon before it serves its log. If
  it holds an entry some peer lacks dated at or below that peer's horizon, it serves
  nothing and takes no writes (state ``stale``), and says what to do. Otherwise such
  entries would reach a peer that has not collected yet (it applies them correctly:
  it still holds the tombstone) and from there be refused by the others forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.errors import Refused
from node.protocol.hlc import unpack

HlcAt = Callable[[str, int], "int | None"]  # (origin, seq) -> that entry's hlc, if held


def show(hlc: int) -> str:
    ms, counter = unpack(hlc)
    return f"{ms}ms+{counter}"


def first_stale(entries: Iterable[pb.Entry], horizon: int) -> pb.Entry | None:
    """The first of ``entries`` (new to this node) dated at or below ``horizon``."""
    if horizon:
        for e in entries:
            if e.hlc <= horizon:
                return e
    return None


def stale_message(entry: pb.Entry, peer: str, me: str, horizon: int) -> str:
    return (
        f"{peer} sent {entry.origin} seq {entry.seq} dated {show(entry.hlc)}, at or before "
        f"tombstones {me} has already collected (up to {show(horizon)}): it cannot tell "
        f"whether a delete beat it. The data came from a copy older than that collection "
        f"(a restored backup), or clocks differ by more than tombstone_grace_ms. Refused; "
        f"move the stale node's data directory away so it bootstraps from a snapshot"
    )


def lacked_below(
    mine: Mapping[str, int], theirs: Mapping[str, int], horizon: int, hlc_at: HlcAt
) -> tuple[str, int, int] | None:
    """An entry this node holds and a peer lacks, dated at or below the peer's
    ``horizon``: (origin, seq, hlc), or None. Per origin the first entry the peer lacks
    is the oldest (an origin's hlc grows with its seq); one this node no longer holds
    (truncated) cannot be checked here, and the peer's receive guard still applies."""
    if not horizon:
        return None
    for origin in sorted(mine):
        seq = theirs.get(origin, 0) + 1
        if seq > mine[origin]:
            continue
        hlc = hlc_at(origin, seq)
        if hlc is not None and hlc <= horizon:
            return origin, seq, hlc
    return None


@dataclass(frozen=True)
class StaleVerdict:
    stale: bool
    reason: str


class StaleCheck:
    """May a node that started over existing data serve its log? Once every peer's
    Welcome showed it lacks nothing of this node's dated at or below its horizon (or
    the peers that did not answer in time are left to their receive guard)."""

    def __init__(self, me: str, peers: Iterable[str]) -> None:
        self.me = me
        self.pending = set(peers)
        self.verdict: StaleVerdict | None = None
        if not self.pending:
            self.verdict = StaleVerdict(False, "no peers to check against")

    def on_welcome(
        self,
        peer: str,
        mine: Mapping[str, int],
        theirs: Mapping[str, int],
        horizon: int,
        hlc_at: HlcAt,
    ) -> StaleVerdict | None:
        """A peer's Welcome; returns the verdict once there is one."""
        if self.verdict is not None or peer not in self.pending:
            return None
        found = lacked_below(mine, theirs, horizon, hlc_at)
        if found is not None:
            origin, seq, hlc = found
            self.verdict = StaleVerdict(
                True,
                f"this data directory holds {origin} seq {seq} (dated {show(hlc)}), which "
                f"{peer} never received, and {peer} has already collected tombstones up to "
                f"{show(horizon)}: replicating it could bring a deleted key back. The data "
                f"is older than that collection (restored from a backup?). Move the data "
                f"directory away and start {self.me} again: it bootstraps from a snapshot "
                f"(writes only this copy held are lost)",
            )
            return self.verdict
        self.pending.discard(peer)
        if not self.pending:
            self.verdict = StaleVerdict(False, "every peer holds what is older than its horizon")
            return self.verdict
        return None

    def on_timeout(self) -> StaleVerdict | None:
        if self.verdict is not None:
            return None
        self.verdict = StaleVerdict(
            False,
            f"not checked against {', '.join(sorted(self.pending))} (no Welcome in time); "
            f"their receive guard refuses anything dated below their horizon",
        )
        return self.verdict


def check_horizon(
    horizon: int, wall_ms: int, max_skew_ms: int, peer: str, grace_ms: int = 0
) -> None:
    """A horizon a peer sent (Welcome, SnapshotBegin): the hlc of a tombstone it collected
    once it was ``grace_ms`` old by its clock, which runs at most ``max_skew_ms`` ahead of
    this node's. One newer would make this node refuse live entries (or take itself for
    stale) for good."""
    ahead = unpack(horizon)[0] - (wall_ms - grace_ms + max_skew_ms)
    if horizon and ahead > 0:
        raise Refused(
            f"{peer} claims a GC horizon {ahead / 1000:,.0f} s ahead of any tombstone that "
            f"can have been collected by now (tombstone_grace_ms {grace_ms}, "
            f"max_clock_skew_ms {max_skew_ms})"
        )
