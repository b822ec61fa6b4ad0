"""What a node knows of forks: per origin, the peers whose chain differs from its own,
and who holds the forked range as far as it can tell. Pure: ``node.replication.integrity`` feeds it
the comparisons and acts on what it says.

The origin is the authority on its own log. So a difference with the origin itself
means this node holds a range the origin never wrote (it repairs: ``repair``); a peer
differing from this node on its own origin holds such a range; a difference between
two other nodes is settled by whichever was last seen to agree with the origin at or
above the seq in question (``agreed``), and otherwise by nobody: the node reports it,
stops relaying that origin past what it verified, and waits for the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.protocol.identity import name_of

THIS_NODE = "this node"  # a verdict's prefix when this node holds the forked range


@dataclass
class Fork:
    origin: str
    peers: dict[str, int] = field(default_factory=dict)  # node -> seq where it differs
    incarnations: dict[str, str] = field(default_factory=dict)  # node -> its origin then
    origin_differs: bool = False  # a peer that is the origin differs: ours is the bad range

    @property
    def seq(self) -> int:
        return min(self.peers.values(), default=0)


@dataclass(frozen=True)
class Seen:
    """What one comparison changed: a fork to report, or one that cleared."""

    origin: str
    seq: int
    peer: str
    new: bool  # a fork (or a new peer in one) to log at ERROR and count
    cleared: bool  # the last differing peer now agrees


class ForkBook:
    def __init__(self) -> None:
        self.forks: dict[str, Fork] = {}
        self.agreed: dict[str, int] = {}  # origin -> highest seq the origin's chain matched

    def observe(
        self, origin: str, seq: int, equal: bool, peer: str, peer_origin: str
    ) -> Seen | None:
        """One comparison with ``peer`` (whose own origin is ``peer_origin``) at ``seq``."""
        fork = self.forks.get(origin)
        if equal:
            if peer_origin == origin and seq > self.agreed.get(origin, 0):
                self.agreed[origin] = seq
            if fork is None or peer not in fork.peers:
                return None
            del fork.peers[peer]
            if peer_origin == origin:
                fork.origin_differs = False
            if fork.peers:
                return None
            del self.forks[origin]
            return Seen(origin, seq, peer, new=False, cleared=True)
        if fork is None:
            fork = self.forks[origin] = Fork(origin)
        new = peer not in fork.peers
        fork.peers[peer] = min(seq, fork.peers.get(peer, seq))
        fork.incarnations[peer] = peer_origin
        if peer_origin == origin:
            fork.origin_differs = True
        return Seen(origin, seq, peer, new=new, cleared=False)

    def met(self, peer: str, peer_origin: str) -> list[Seen]:
        """``peer`` said Hello or Welcome as ``peer_origin``: a new incarnation of a node
        that held a forked range holds it no more (it was re-bootstrapped)."""
        out = []
        for origin, fork in list(self.forks.items()):
            if peer in fork.peers and fork.incarnations.get(peer) != peer_origin:
                seq = fork.peers.pop(peer)
                fork.origin_differs = fork.origin_differs and name_of(origin) != peer
                if not fork.peers:
                    del self.forks[origin]
                    out.append(Seen(origin, seq, peer, new=False, cleared=True))
        return out

    def verdict(self, origin: str, me: str) -> str:
        """Who holds the forked range of ``origin``, as far as this node can tell."""
        fork = self.forks[origin]
        peers = ", ".join(sorted(fork.peers))
        if origin == me:
            return f"{peers} hold entries of this node's origin that it never wrote"
        if fork.origin_differs:
            return f"{THIS_NODE}: its range differs from the origin's own chain; it repairs"
        if self.vouched(origin, fork.seq):
            return (
                f"{peers}: this node's chain matched the origin's at seq "
                f"{self.agreed[origin]}; theirs differs"
            )
        return (
            f"unknown: {name_of(origin)} (the origin) has not confirmed either chain at "
            f"seq {fork.seq}; nothing is picked until it does (if it is gone for good, "
            f"re-bootstrap the node holding the range you distrust: docs/integrity.md)"
        )

    def vouched(self, origin: str, seq: int) -> bool:
        """Has the origin confirmed this node's chain of ``origin`` at or above ``seq``?"""
        return self.agreed.get(origin, 0) >= seq

    def relay_caps(self, me: str) -> dict[str, int]:
        """Origins this node may not relay in full: up to what the origin confirmed."""
        return {
            origin: self.agreed.get(origin, 0)
            for origin, fork in self.forks.items()
            if origin != me and (fork.origin_differs or not self.vouched(origin, fork.seq))
        }

    def to_repair(self) -> list[str]:
        """Origins whose own chain contradicts this node's range."""
        return [o for o, f in self.forks.items() if f.origin_differs]

    def forget(self, origin: str) -> None:
        """This node discarded its range of ``origin`` past ``agreed``: compare afresh."""
        self.forks.pop(origin, None)
