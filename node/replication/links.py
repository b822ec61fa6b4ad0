"""The state of a node's replication links, both ways, and the policy built on it.

Outbound: this node subscribed to a peer (connected or not, why it last failed).
Inbound: a peer subscribed to this node (its session: cursor, lag, last message).
The policy "which origins do I get directly" (``direct_sources``) lives here
because it is a function of the outbound link states alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.protocol import Refused, ServerSession
from node.protocol.compaction import MemberAck, Members

MAX_STREAMS = 64  # Replicate streams served at once, whoever opened them
MAX_STREAMS_PER_CALLER = 2  # by one caller: its stream and one replacing it


@dataclass
class OutboundStats:
    """This node subscribed to a peer."""

    address: str
    replica_id: str = ""  # the peer's incarnation, from its last Welcome
    connected: bool = False
    failed: bool = False  # an attempt failed or the link dropped since it was last up
    entries_received: int = 0
    connects: int = 0
    last_error: str = ""
    clock_offset_ms: int | None = None  # the peer's wall clock minus ours, last measured
    heard: dict[str, int] = field(default_factory=dict)  # the most its Welcome/heartbeats held


@dataclass
class Inbound:
    """A peer subscribed to this node: its live session, or the last one while it is gone."""

    session: ServerSession
    open: bool = True
    caller: str = ""  # who opened the stream: its certificate's name, else its Hello's
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # set: a newer one replaced it
    counted: bool = True  # still counted in Links.streams (until its handler ends)


class Links:
    def __init__(self, peers: Mapping[str, str], known: Mapping[str, str] | None = None) -> None:
        """``known``: each peer's replica id as last seen (kept across restarts)."""
        known = known or {}
        self.outbound: dict[str, OutboundStats] = {
            p: OutboundStats(a, known.get(p, "")) for p, a in peers.items()
        }
        self.inbound: dict[str, Inbound] = {}
        self.streams = 0  # Replicate streams whose handler runs (each counted once)
        self.by_caller: Counter[str] = Counter()
        self._listeners: list[Callable[[], None]] = []

    def add_peer(self, peer: str, address: str) -> None:
        self.outbound[peer] = OutboundStats(address)

    def remove_peer(self, peer: str) -> None:
        """Forget a peer we no longer subscribe to (and its closed inbound session)."""
        self.outbound.pop(peer, None)
        inbound = self.inbound.get(peer)
        if inbound is not None and not inbound.open:
            del self.inbound[peer]
        self.changed()  # the direct sources changed: other links re-send their exclusions

    # ------------------------------------------------------------------ outbound
    def on_changed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever an outbound link goes up or down."""
        self._listeners.append(listener)

    def off_changed(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    def learned(self, peer: str, replica_id: str) -> bool:
        """A peer's incarnation from its Welcome; True when it is new to us."""
        stats = self.outbound[peer]
        if not replica_id or stats.replica_id == replica_id:
            return False
        stats.replica_id, stats.heard = replica_id, {}
        self.changed()
        return True

    def announce(self, peer: str, vv: Mapping[str, int]) -> None:
        """A peer's Welcome or heartbeat: what it says it holds."""
        stats = self.outbound.get(peer)
        if stats is not None:
            heard = stats.heard
            for origin, seq in vv.items():
                if seq > heard.get(origin, 0):
                    heard[origin] = seq

    def words(self, sender: str) -> tuple[dict[str, int], dict[str, int] | None]:
        """What the peers but ``sender`` on live links said (node.protocol.vouch): each
        one's top of its own log, and per origin the most any said it holds (None: this
        node has no peer but the sender; empty while the others are all down)."""
        if not set(self.outbound) - {sender}:
            return {}, None  # a pair: nobody else to ask
        live = [s for p, s in self.outbound.items() if p != sender and s.connected]
        own = {s.replica_id: s.heard.get(s.replica_id, 0) for s in live if s.replica_id}
        most: dict[str, int] = {}
        for stats in live:
            for origin, seq in stats.heard.items():
                if seq > most.get(origin, 0):
                    most[origin] = seq
        return own, most

    def set_connected(self, peer: str, connected: bool, error: str = "") -> None:
        stats = self.outbound[peer]
        if error and not connected:
            stats.last_error = error  # the latest reason, even when the link stays down
        if stats.connected == connected and stats.failed != connected:
            return
        stats.connected = connected
        stats.failed = not connected
        if connected:
            stats.connects += 1
            stats.last_error = ""
        self.changed()

    def received(self, peer: str, n: int) -> None:
        if peer in self.outbound:
            self.outbound[peer].entries_received += n

    def direct_sources(self) -> list[str]:
        """Origins this node expects to get directly from their writers: the current
        incarnations of peers whose links are up or still on their first attempt.
        Optimistic at start, so a restarted node does not pull every origin from every
        peer while its links come up one by one; a failed attempt drops the peer from
        the list and relays fill in. Only a current incarnation is a complete source of
        its own entries, so an earlier incarnation's origin is never excluded."""
        return [
            s.replica_id
            for s in self.outbound.values()
            if s.replica_id and (s.connected or not s.failed)
        ]

    # ------------------------------------------------------------------- inbound
    def subscribed(self, session: ServerSession, caller: str = "", proven: bool = False) -> Inbound:
        """A stream said Hello as ``session.peer``. Streams are counted per ``caller`` and
        in all. A name with a stream open is refused, so nobody takes over a member's
        acks (which truncation and GC read), unless ``proven`` (its certificate names it):
        then the new stream replaces the old one, which ends (a node whose old stream
        half-died gets back in at once; without TLS, once that one times out)."""
        peer, caller = session.peer, caller or session.peer
        old = self.inbound.get(peer)
        if old is not None and old.open and not proven:
            since = time.monotonic() - old.session.last_heard
            raise Refused(
                f"a Replicate stream of {peer} is open already (last heard {since:.1f}s ago); "
                f"a second is refused until it ends (it times out after "
                f"{2 * session.limits.timeout_s:g}s of silence)",
                "unavailable",
            )
        if self.streams >= MAX_STREAMS or self.by_caller[caller] >= MAX_STREAMS_PER_CALLER:
            raise Refused(
                f"{self.streams} Replicate streams are open ({self.by_caller[caller]} by "
                f"{caller}); the limit is {MAX_STREAMS}, and {MAX_STREAMS_PER_CALLER} per caller",
                "exhausted",
            )
        if old is not None and old.open:
            old.open = False
            old.ended.set()
        self.streams += 1
        self.by_caller[caller] += 1
        entry = self.inbound[peer] = Inbound(session, caller=caller)
        return entry

    def unsubscribed(self, entry: Inbound) -> None:
        """A stream ended: a configured peer's figures stay for status; anyone else's go,
        so subscribers that come and go cannot grow this table."""
        if entry.counted:
            entry.counted = False
            self.streams -= 1
            self.by_caller[entry.caller] -= 1
            if not self.by_caller[entry.caller]:
                del self.by_caller[entry.caller]
        peer = entry.session.peer
        if self.inbound.get(peer) is entry:
            if peer in self.outbound:
                entry.open = False
            else:
                del self.inbound[peer]

    def member_acks(self, members: Iterable[str]) -> Members:
        """Each member's latest acknowledgement to this node on its stream here (None:
        none yet in this process): what log truncation and tombstone GC go by."""
        now = time.monotonic()
        out: dict[str, MemberAck | None] = {}
        for peer in members:
            inbound = self.inbound.get(peer)
            s = inbound.session if inbound else None
            if s is None or not s.last_ack:
                out[peer] = None
                continue
            out[peer] = MemberAck(
                vv=dict(s.cursor.acked),
                durable=dict(s.durable),
                clock=s.clock,
                members=frozenset(s.members),
                open=bool(inbound and inbound.open),
                since_s=now - s.last_ack,
            )
        return out

    def open_streams(self) -> int:
        return sum(i.open for i in self.inbound.values())

    # -------------------------------------------------------------------- status
    def peer_status(self, have: Mapping[str, int]) -> list[pb.PeerStatus]:
        now = time.monotonic()
        out = []
        for name in sorted(set(self.outbound) | set(self.inbound)):
            o = self.outbound.get(name)
            i = self.inbound.get(name)
            s = i.session if i else None
            out.append(
                pb.PeerStatus(
                    peer=name,
                    address=o.address if o else "",
                    connected=bool(o and o.connected),
                    entries_received=o.entries_received if o else 0,
                    connects=o.connects if o else 0,
                    last_error=o.last_error if o else "",
                    subscribed=bool(i and i.open),
                    entries_sent=s.entries_sent if s else 0,
                    last_ack_age_s=(now - s.last_heard) if s and s.last_heard else -1.0,
                    lag=s.lag(have) if s else 0,
                    excluded=sorted(s.cursor.exclude) if s else [],
                    replica_id=o.replica_id if o else "",
                    clock_offset_ms=(o.clock_offset_ms or 0) if o else 0,
                    clock_measured=bool(o and o.clock_offset_ms is not None),
                )
            )
        return out
