"""What a snapshot may change on the node that receives it, judged at SnapshotBegin on
figures the receiver can check, before any chunk merges (issue 24, docs/compaction.md).

A snapshot asks its receiver to believe three things it cannot see: that the sender's
state is the result of every entry up to the vv it claims (so the receiver's vv may
jump there), that a key it omits was deleted by a tombstone since collected (so the
receiver may drop the record it holds: the *covered* rule), and that the sender
collected tombstones up to its GC horizon (so the receiver must refuse older entries
from then on). Believed blindly, one member could empty a node, cut it off from every
later write, or make it refuse a live origin for good. So:

- **Its own writes**: a snapshot never claims more of the receiver's own origin than
  the receiver holds (every honest node holds at most what the origin wrote); one that
  does is refused, and the receiver never drops a record of its own origin.
- **An origin it hears directly**: for an origin whose node the receiver has a live
  link to, a claim past what that origin itself announced (Welcome, heartbeats; what the
  receiver already holds) is not taken: it stays where it is and its own log brings the
  rest (a snapshot taken an instant after the origin's last word is honest). The
  sender's word on its own origin is the origin's word. Any other origin (its node down,
  retired as an earlier incarnation, beyond a relay) moves on the sender's word: the
  sender may be the only node left holding it; but one no other peer holds is refused
  unless a node the receiver knows of (itself, a peer, the sender) wrote it.
- **The horizon**: a real one is the hlc of a tombstone collected ``tombstone_grace_ms``
  after it was written, by a clock within ``max_clock_skew_ms`` of the receiver's, and of
  an entry the sender holds: at or below ``now - grace + skew`` and the newest of its tops.
  It guards what was taken, so it is adopted only with a range someone besides the
  sender says the receiver lacks (one member's word alone could make it refuse live
  entries older than that horizon).
- **Need**: a snapshot that moves no origin is not taken. It cannot explain any drop.
- **Drops**: a held record goes only if the snapshot covers it, it is dated at or below
  the checked horizon, and some moved origin could hold the tombstone that beat it: one
  that someone besides the sender says holds entries the receiver lacks, and whose top
  here lies below the horizon. A node that held every origin as far as its other peers
  do never drops anything on one member's word: it held the collecting tombstone itself
  (GC needs every member's ack), or they would hold entries it lacks.

What stays trusted: the records (a state is not a log: which keys it omits and what
the moved ranges held), how far an origin the receiver cannot hear directly goes,
with no other live link the sender's word on what the receiver lacks, and other peers'
words, which may repeat what they took on one member's word. Documented in
docs/compaction.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from node.protocol.errors import Held, PeerFailed, Refused
from node.protocol.hlc import unpack
from node.protocol.horizon import check_horizon
from node.protocol.identity import name_of


@dataclass(frozen=True)
class Known:
    """What the receiver knows for itself when a snapshot begins."""

    own: str  # its current origin
    vv: Mapping[str, int]
    tops: Mapping[str, int]  # per origin: the hlc of its entry at vv[origin]
    sender: str  # the sender's own origin: its word on its own log is the origin's word
    # origin -> the top of its own log it announced (Welcome, heartbeats), for each peer
    # but the sender on a live link
    announced: Mapping[str, int]
    # per origin, the most any peer but the sender on a live link announced holding (the
    # origin's own word among them); None: the receiver has no peer but the sender
    others: Mapping[str, int] | None
    names: frozenset[str]  # this node's name, its peers' and the sender's: who can write
    wall_ms: int
    skew_ms: int  # max_clock_skew_ms
    grace_ms: int  # tombstone_grace_ms


@dataclass(frozen=True)
class Taken:
    """What the receiver takes from a snapshot it accepted."""

    moved: dict[str, int]  # origins whose vv jumps, and to where
    covers: dict[str, int]  # per origin: up to which seq its state accounts for held records
    horizon: int  # the sender's GC horizon, checked, to adopt (0: none)
    drop_upto: int = 0  # held records covered and omitted go if dated at or below (0: none)
    # origins claimed past what they announced themselves: (claimed, announced); left alone
    unchecked: dict[str, tuple[int, int]] = field(default_factory=dict)
    # per moved origin, how far this node may vouch for it from now on
    # (node/replication/vouched.py): the sender's own origin (its word on its own log),
    # or what a peer besides the sender vouched for; a moved origin not named here was
    # taken on one member's word
    vouched: dict[str, int] = field(default_factory=dict)

    def drops(self, origin: str, seq: int, hlc: int) -> bool:
        """The covered rule: may a held record the snapshot omits go?"""
        return 0 < self.drop_upto >= hlc and seq <= self.covers.get(origin, 0)


def judge(
    peer: str, vv: Mapping[str, int], tops: Mapping[str, int], horizon: int, known: Known
) -> Taken:
    """What to take of a snapshot whose Begin claims ``vv``, ``tops`` and ``horizon``.

    ``Refused`` (naming the peer and the claim) for what no honest member can send;
    ``Held`` for one that would move nothing but origins it claims past what they
    announced themselves (a lie, or entries in flight: nothing taken, the link asks
    again); ``PeerFailed`` for one that moves nothing and claims nothing false (this node
    caught up elsewhere meanwhile)."""
    own = known.own
    if vv.get(own, 0) > known.vv.get(own, 0):
        raise Refused(
            f"{peer} sent a snapshot claiming {vv[own]:,} of this node's own writes ({own}), "
            f"of which it holds {known.vv.get(own, 0):,}: no snapshot can teach a node its "
            f"own writes"
        )
    check_horizon(horizon, known.wall_ms, known.skew_ms, f"{peer}'s snapshot", known.grace_ms)
    if horizon > max(tops.values(), default=0):
        raise Refused(f"{peer}'s snapshot claims a GC horizon newer than every entry it holds")
    late = known.wall_ms + known.skew_ms
    for origin, top in tops.items():
        if unpack(top)[0] > late:
            raise Refused(f"{peer} sent a snapshot whose top of {origin} is dated in the future")
    moved, covers, unchecked, vouched, marks = {}, {}, {}, [], {}
    for origin, seq in vv.items():
        have = known.vv.get(origin, 0)
        if origin == own or seq <= have:
            covers[origin] = 0 if origin == own else seq
            continue
        said = known.announced.get(origin)
        if origin != known.sender and said is not None and seq > max(have, said):
            unchecked[origin] = (seq, max(have, said))  # left alone: its own log brings it
            covers[origin] = have
            continue
        word = None if known.others is None else known.others.get(origin, 0)
        if origin == known.sender:
            marks[origin] = seq  # the origin's word on its own log
        elif word:
            marks[origin] = min(seq, word)
        if word is None:  # no peer but the sender: its word is taken (a pair)
            vouched.append(origin)
        elif min(seq, word) > have:  # not only the sender says
            vouched.append(origin)
        elif name_of(origin) not in known.names:
            raise Refused(
                f"{peer} sent a snapshot claiming {seq:,} entries of {origin}, which no peer "
                f"of this node holds and no member it knows of wrote"
            )
        moved[origin] = covers[origin] = seq
    if not moved:
        if unchecked:
            origin, (seq, bound) = sorted(unchecked.items())[0]
            raise Held(
                f"{peer} sent a snapshot claiming {origin} up to seq {seq:,}, past what "
                f"{origin} itself announced ({bound:,}), and nothing else this node lacks: "
                f"not taken"
            )
        raise PeerFailed(f"{peer} sent a snapshot of nothing this node lacks; asking again")
    # The horizon guards what was taken (a stale copy's older put must not come back
    # here), so it comes with a range someone besides the sender says this node lacks.
    adopted = horizon if vouched else 0
    below = any(known.tops.get(origin, 0) < horizon for origin in vouched)
    return Taken(moved, covers, adopted, horizon if below else 0, unchecked, marks)
