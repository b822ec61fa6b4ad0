"""The subscriber end of one replication stream, as a state machine.

No sockets, no clock, no disk: the caller sends ``hello()``, feeds every message
it reads to ``on_welcome`` then ``on_message``, applies the entries that come
back, sends what ``outgoing`` returns when its vv or its live links change, and
calls ``check_alive`` now and then. A link that hears nothing (no batch, no
heartbeat) for ``timeout_s`` is dead even if TCP is silent rather than reset (a
blackholed partition): silence is the only signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.errors import PeerFailed
from node.protocol.hello import Identity, check_welcome, make_hello
from node.protocol.validate import check_vv


@dataclass(frozen=True)
class Received:
    entries: Sequence[pb.Entry] = ()
    caught_up: bool = False  # the first heartbeat after a catch-up: the backlog is in
    snapshot: pb.ServerMessage | None = None  # a SnapshotBegin, SnapshotChunk or SnapshotEnd
    # its vv and chain values: node.replication.integrity checks them
    heartbeat: pb.Heartbeat | None = None


class SubscriberSession:
    def __init__(self, me: Identity, peer: str, address: str, timeout_s: float) -> None:
        self.me = me
        self.peer = peer
        self.address = address
        self.timeout_s = timeout_s
        self.sent_exclude: list[str] = []
        self.last_heard = 0.0
        self.catching_up = False
        self.welcomed = False
        self.behind = 0  # entries the server had that we lacked, at Welcome
        self.clock_offset_ms: int | None = None  # the server's wall clock minus ours
        self.peer_origin = ""  # the server's replica id, from its Welcome

    def hello(
        self,
        vv: Mapping[str, int],
        exclude: list[str],
        chains: Mapping[str, bytes] | None = None,
    ) -> pb.SubscriberMessage:
        self.sent_exclude = list(exclude)
        msg = make_hello(self.me, vv, self.sent_exclude)
        if chains:
            msg.hello.chains.update(chains)
        return msg

    def on_welcome(
        self, msg: pb.ServerMessage, vv: Mapping[str, int], now: float, wall_ms: int = 0
    ) -> pb.Welcome:
        """Check the server is the peer we dialled; ``behind`` says what it has for us."""
        welcome = check_welcome(msg, self.peer, self.address)
        check_vv(welcome.vouched, "a Welcome's vouched vv", self.peer)
        behind = sum(max(0, s - vv.get(o, 0)) for o, s in welcome.vv.items() if o != self.me.origin)
        self.behind = behind
        self.peer_origin = welcome.replica_id
        self._measure(welcome.wall_ms, wall_ms)
        self.catching_up = behind > 0
        self.welcomed = True
        self.last_heard = now
        return welcome

    def _measure(self, theirs: int, ours: int) -> None:
        """Their clock minus ours, as of this message (it ignores the one-way delay, which
        on a live link is far below the skew worth reporting)."""
        if theirs and ours:
            self.clock_offset_ms = theirs - ours

    def on_message(self, msg: pb.ServerMessage, now: float, wall_ms: int = 0) -> Received:
        kind = msg.WhichOneof("msg")
        if not self.welcomed or kind == "welcome" or kind is None:
            raise PeerFailed(f"unexpected {kind or 'empty'} message from {self.peer}")
        self.last_heard = now
        if kind == "batch":
            msg.batch.DiscardUnknownFields()  # entries are hashed as canonical proto3
            return Received(entries=msg.batch.entries)
        if kind in ("snapshot_begin", "snapshot_chunk", "snapshot_end"):
            return Received(snapshot=msg)
        check_vv(msg.heartbeat.vouched, "a Heartbeat's vouched vv", self.peer)
        self._measure(msg.heartbeat.wall_ms, wall_ms)
        if self.catching_up and not msg.heartbeat.busy:  # the server has nothing more for us
            self.catching_up = False
            return Received(caught_up=True, heartbeat=msg.heartbeat)
        return Received(heartbeat=msg.heartbeat)

    def outgoing(
        self,
        vv: Mapping[str, int],
        exclude: list[str],
        durable: Mapping[str, int] | None = None,
        clock: int = 0,
        members: Sequence[str] = (),
    ) -> list[pb.SubscriberMessage]:
        """What to tell the server now: a Want if our live links changed, then an Ack
        (with what is durable, our clock and our peers: its truncation and GC use them)."""
        out = []
        if exclude != self.sent_exclude:
            self.sent_exclude = list(exclude)
            out.append(pb.SubscriberMessage(want=pb.Want(exclude=exclude)))
        ack = pb.Ack(vv=vv, durable=durable or {}, clock=clock, members=sorted(members))
        out.append(pb.SubscriberMessage(ack=ack))
        return out

    def check_alive(self, now: float) -> None:
        silent = now - self.last_heard
        if silent > self.timeout_s:
            raise PeerFailed(f"no message from {self.peer} in {silent:.1f}s")
