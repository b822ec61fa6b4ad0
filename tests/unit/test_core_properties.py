"""Convergence of the shipped protocol under any delivery order, duplication and partition.

An in-memory network: every directed link runs the real ``SubscriberSession`` at the
subscriber and the real ``ServerSession`` at the server (node/protocol), and every
replica applies batches with the real ``triage`` and ``plan_commit`` (tests/memreplica.py).
Hypothesis picks writes, deletes, sends, deliveries (in any order, with duplicates),
heartbeats and time passing (silent links time out), link resets (reconnect: a new
Hello from the subscriber's vv) and partitions. At the end everything heals and drains;
every replica must hold the same state, digest and vv, and every key the
maximum-version write.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.pb import remesh_pb2 as pb
from node.protocol import (
    Identity,
    PeerFailed,
    ServerLimits,
    ServerSession,
    SubscriberSession,
    exclusions,
)
from tests.memreplica import MemoryReplica

pytestmark = pytest.mark.unit

KEYS = [b"k0", b"k1", b"k2"]
TIMEOUT_S = 5.0


class Net:
    def __init__(self, n: int, use_exclusions: bool, batch_entries: int, batch_bytes: int):
        self.names = [f"n{i}" for i in range(n)]
        self.nodes = {name: MemoryReplica(name) for name in self.names}
        self.ids = {name: Identity(name, "prop", "default") for name in self.names}
        self.limits = ServerLimits(batch_entries, batch_bytes, 0.2, TIMEOUT_S)
        self.links = [(s, d) for s in self.names for d in self.names if s != d]
        self.subs: dict[tuple[str, str], SubscriberSession] = {}
        self.servers: dict[tuple[str, str], ServerSession] = {}
        self.inflight: dict[tuple[str, str], list[pb.ServerMessage]] = {}
        self.cut: set[tuple[str, str]] = set()
        self.use_exclusions = use_exclusions
        self.written: list[pb.Entry] = []
        self.now = 0.0
        for link in self.links:
            self.reset(link)

    def exclude(self, link) -> list[str]:
        sub, srv = link
        if not self.use_exclusions:
            return []
        live = [d for (s, d) in self.links if s == sub and (s, d) not in self.cut]
        return exclusions(srv, live)

    def reset(self, link):
        """Reconnect: in-flight data is lost; Hello from the subscriber's vv, then Welcome."""
        sub, srv = link
        self.inflight[link] = []
        s = self.subs[link] = SubscriberSession(self.ids[sub], srv, "mem", TIMEOUT_S)
        server = self.servers[link] = ServerSession(self.ids[srv], self.limits)
        hello = s.hello(self.nodes[sub].vv, self.exclude(link))
        welcome = server.on_hello(hello, self.nodes[srv].vv, self.now)
        s.on_welcome(welcome, self.nodes[sub].vv, self.now)

    def tell_server(self, link):
        """The subscriber's Want (if its live links changed) and Ack, as the pump sends them."""
        for msg in self.subs[link].outgoing(self.nodes[link[0]].vv, self.exclude(link)):
            self.servers[link].on_message(msg, self.now)

    def send(self, link):
        self.tell_server(link)
        srv = self.nodes[link[1]]
        msg = self.servers[link].next_batch(srv.vv, srv.read, self.now)
        if msg is not None:
            self.inflight[link].append(msg)

    def heartbeat(self, link):
        try:
            beat = self.servers[link].tick(self.now, self.nodes[link[1]].vv)
            self.subs[link].check_alive(self.now)
        except PeerFailed:
            self.reset(link)
            return
        if beat is not None:
            self.inflight[link].append(beat)

    def deliver(self, link, index, duplicate):
        q = self.inflight[link]
        if not q or link in self.cut:
            return
        msg = q[index % len(q)] if duplicate else q.pop(index % len(q))
        got = self.subs[link].on_message(msg, self.now)
        self.nodes[link[0]].receive(got.entries)
        self.tell_server(link)

    def drain(self):
        self.cut.clear()
        for link in self.links:
            self.reset(link)
        for _ in range(10 * len(self.names)):
            for link in self.links:
                self.send(link)
                while self.inflight[link]:
                    self.deliver(link, 0, False)


action = st.one_of(
    st.tuples(
        st.just("write"),
        st.integers(0, 4),
        st.sampled_from(KEYS),
        st.one_of(st.none(), st.binary(min_size=1, max_size=3)),
        st.integers(0, 50),
    ),
    st.tuples(st.just("send"), st.integers(0, 40)),
    st.tuples(st.just("deliver"), st.integers(0, 40), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("heartbeat"), st.integers(0, 40), st.floats(0, 2 * TIMEOUT_S)),
    st.tuples(st.just("reset"), st.integers(0, 40)),
    st.tuples(st.just("cut"), st.integers(0, 40)),
    st.tuples(st.just("heal"), st.integers(0, 40)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 5),
    use_exclusions=st.booleans(),
    batch_entries=st.integers(1, 4),
    batch_bytes=st.sampled_from([40, 1 << 20]),
    actions=st.lists(action, max_size=80),
)
def test_any_delivery_schedule_converges_to_the_lww_maximum(
    n, use_exclusions, batch_entries, batch_bytes, actions
):
    net = Net(n, use_exclusions, batch_entries, batch_bytes)
    clock = 0
    for act in actions:
        kind = act[0]
        if kind == "write":
            _, who, key, value, dt = act
            clock += dt
            node = net.nodes[net.names[who % n]]
            net.written.append(node.write(key, value, clock))
            continue
        link = net.links[act[1] % len(net.links)]
        if kind == "send" and link not in net.cut:
            net.send(link)
        elif kind == "deliver":
            net.deliver(link, act[2], act[3])
        elif kind == "heartbeat":
            net.now += act[2]
            net.heartbeat(link)
        elif kind == "reset":
            net.reset(link)
        elif kind == "cut":
            net.cut.add(link)
            net.reset(link)
        elif kind == "heal":
            net.cut.discard(link)
    net.drain()

    nodes = list(net.nodes.values())
    first = nodes[0]
    for node in nodes[1:]:
        assert node.vv == first.vv
        assert node.digest == first.digest
        assert node.live() == first.live()
    expected: dict[bytes, pb.Entry] = {}
    for w in net.written:
        if w.key not in expected or (w.hlc, w.origin) > (
            expected[w.key].hlc,
            expected[w.key].origin,
        ):
            expected[w.key] = w
    assert {k: w.value for k, w in expected.items() if w.op == pb.PUT} == first.live()
    assert sum(first.vv.values()) == len(net.written)
