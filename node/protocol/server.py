"""The server end of one replication stream, as a state machine.

No sockets, no clock, no disk: the caller passes the time, the log's top and a
reader of the log, and sends what comes back. The log is the queue: nothing is
buffered per subscriber beyond one batch, so a slow or absent peer costs disk,
not memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.cursor import Cursor
from node.protocol.errors import PeerFailed, Refused
from node.protocol.hello import Identity, check_hello
from node.protocol.validate import check_origins, check_vv

ENTRY_OVERHEAD = 32  # bytes an entry costs on the wire beyond its key and value, about
# Entries read first from a range: a batch's byte budget may hold only a few (1,000
# entries of 512 KiB read from LevelDB to send two cost the node its CPU).
FIRST_READ = 8
# A stream that never goes idle sends a Heartbeat between batches every this many
# heartbeat intervals, so chains are compared under constant writes (docs/integrity.md).
BUSY_BEATS = 5
ReadLog = Callable[[str, int, int], list[pb.Entry]]


@dataclass(frozen=True)
class ServerLimits:
    max_batch_entries: int
    max_batch_bytes: int
    heartbeat_s: float
    timeout_s: float  # a subscriber silent for twice this long is gone


class ServerSession:
    """Serve one subscriber from the log at its cursor.

    ``on_hello`` -> Welcome (or ``Refused``); then ``on_message`` for each Ack or
    Want, ``next_batch`` while it returns something, ``tick`` when idle.
    """

    def __init__(self, me: Identity, limits: ServerLimits) -> None:
        self.me = me
        self.limits = limits
        self.peer = ""
        self.cursor = Cursor("", {})
        self.entries_sent = 0
        self.batch_bytes = 0  # of the last batch: keys, values and ENTRY_OVERHEAD each
        self.last_heard = 0.0
        self.last_sent = 0.0
        self.last_beat = 0.0  # when the last Heartbeat went out, idle or busy
        self.durable: dict[str, int] = {}  # what the subscriber holds durably (its acks)
        self.clock = 0  # its HLC at its last ack: it writes nothing dated before
        self.members: list[str] = []  # its peers at its last ack
        self.last_ack = 0.0  # when it last acked (0: not on this stream yet)
        self.packed = False  # it reads packed snapshot chunks (node.protocol.packed)
        # as the subscriber said it (its chain values: node.replication.integrity)
        self.hello = pb.Hello()

    def on_hello(
        self,
        msg: pb.SubscriberMessage | None,
        vv: Mapping[str, int],
        now: float,
        wall_ms: int = 0,
        horizon: int = 0,
        chains: Mapping[str, bytes] | None = None,
        vouched: Mapping[str, int] | None = None,
    ) -> pb.ServerMessage:
        hello = self.hello = check_hello(self.me, msg)
        check_vv(hello.vv, "a Hello vv", hello.node_id)
        check_origins(hello.exclude, "a Hello exclude list", hello.node_id)
        self.peer = hello.node_id
        self.packed = hello.packed_snapshots
        # Never echo the subscriber's own writes: those of its current incarnation. An
        # earlier incarnation's entries are sent like anyone's (it may have lost them).
        self.cursor = Cursor(hello.replica_id or hello.node_id, hello.vv, hello.exclude)
        self.last_heard = self.last_sent = self.last_beat = now
        return pb.ServerMessage(
            welcome=pb.Welcome(
                node_id=self.me.node_id,
                replica_id=self.me.origin,
                vv=vv,
                wall_ms=wall_ms,
                gc_horizon=horizon,
                chains=chains,
                vouched=vouched,
            )
        )

    def on_message(self, msg: pb.SubscriberMessage, now: float) -> bool:
        """Take an Ack or a Want; True when what to send changed (wake the sender)."""
        kind = msg.WhichOneof("msg")
        if kind == "ack":
            check_vv(msg.ack.vv, "an Ack vv", self.peer)
            check_vv(msg.ack.durable, "an Ack durable vv", self.peer)
            check_origins(msg.ack.members, "an Ack member list", self.peer)
            self.cursor.on_ack(msg.ack.vv)
            self.durable = dict(msg.ack.durable)
            self.clock = msg.ack.clock
            self.members = list(msg.ack.members)
            self.last_ack = now
            changed = False
        elif kind == "want":
            check_origins(msg.want.exclude, "a Want exclude list", self.peer)
            self.cursor.set_exclude(msg.want.exclude)
            changed = True
        else:
            raise Refused(f"unexpected {kind or 'empty'} message after Hello")
        self.last_heard = now
        return changed

    def next_batch(
        self, have: Mapping[str, int], read: ReadLog, now: float
    ) -> pb.ServerMessage | None:
        """The next Batch for the subscriber, or None when it has everything.

        At most ``max_batch_entries`` entries and ``max_batch_bytes`` bytes (an entry
        larger than that alone goes in a batch of its own).
        """
        out: list[pb.Entry] = []
        size = 0
        limit = self.limits.max_batch_bytes
        for origin, first, last in self.cursor.ranges(have, self.limits.max_batch_entries):
            step = FIRST_READ  # then as many as the bytes left hold, at the sizes seen
            while first <= last:
                got = read(origin, first, min(last, first + step - 1))
                if not got:
                    break
                for e in got:
                    esize = len(e.key) + len(e.value) + ENTRY_OVERHEAD
                    if out and size + esize > limit:  # full: the rest goes in the next batch
                        return self._sent(out, now, size)
                    out.append(e)
                    size += esize
                first += len(got)
                step = (limit - size) * len(out) // max(size, 1) + 1
        return self._sent(out, now, size) if out else None

    def on_snapshot(self, vv: Mapping[str, int]) -> None:
        """A snapshot with ``vv`` went out: log streaming resumes from there."""
        pos = self.cursor.pos
        for origin, seq in vv.items():
            if seq > pos.get(origin, 0):
                pos[origin] = seq

    def _sent(self, out: list[pb.Entry], now: float, size: int) -> pb.ServerMessage:
        self.cursor.on_sent(out)
        self.entries_sent += len(out)
        self.batch_bytes = size
        self.last_sent = now
        return pb.ServerMessage(batch=pb.Batch(entries=out))

    def full(self, msg: pb.ServerMessage) -> bool:
        """A batch at the entry limit: more is waiting, send again without lingering."""
        return len(msg.batch.entries) >= self.limits.max_batch_entries

    def tick(
        self,
        now: float,
        vv: Mapping[str, int],
        wall_ms: int = 0,
        chains: Mapping[str, bytes] | None = None,
        vouched: Mapping[str, int] | None = None,
    ) -> pb.ServerMessage | None:
        """When idle: a Heartbeat if one is due; ``PeerFailed`` if the subscriber is gone."""
        silent = now - self.last_heard
        if silent > 2 * self.limits.timeout_s:
            raise PeerFailed(f"{self.peer} silent for {silent:.1f}s; closing its stream")
        if now - self.last_sent >= self.limits.heartbeat_s:
            self.last_sent = self.last_beat = now
            beat = pb.Heartbeat(vv=vv, wall_ms=wall_ms, chains=chains, vouched=vouched)
            return pb.ServerMessage(heartbeat=beat)
        return None

    def beat_due(self, now: float) -> bool:
        """A stream busy for ``BUSY_BEATS`` heartbeat intervals owes its subscriber a
        Heartbeat between batches (chains compared: docs/integrity.md)."""
        return now - self.last_beat >= BUSY_BEATS * self.limits.heartbeat_s

    def busy_beat(
        self,
        now: float,
        have: Mapping[str, int],
        chain_at: Callable[[str, int], bytes | None],
        wall_ms: int = 0,
        vouched: Mapping[str, int] | None = None,
    ) -> pb.ServerMessage:
        """A Heartbeat at what this stream has sent (and the subscriber acked) of each
        origin this node holds that far: the subscriber holds those seqs, so it can
        compare chain values there while the origins' tops run ahead of it."""
        self.last_beat = now
        vv = {o: s for o, s in self.cursor.pos.items() if 0 < s <= have.get(o, 0)}
        chains = {o: c for o, s in vv.items() if (c := chain_at(o, s)) is not None}
        beat = pb.Heartbeat(vv=vv, wall_ms=wall_ms, chains=chains, vouched=vouched, busy=True)
        return pb.ServerMessage(heartbeat=beat)

    def lag(self, have: Mapping[str, int]) -> int:
        return self.cursor.lag(have)
