"""Convergence of the pure core under any delivery order, duplication and partition.

An in-memory network of MemoryReplicas: each directed link has a server-side
Cursor and a queue of batches in flight. Hypothesis picks writes, deletes,
sends, deliveries (in any order, with duplicates), drops, link resets
(reconnects: the cursor restarts from the subscriber's vv) and partitions.
At the end everything heals and drains; every replica must hold the same
state, digest and vv, and every key the maximum-version write.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.core import Cursor, MemoryReplica, exclusions

pytestmark = pytest.mark.unit

KEYS = [b"k0", b"k1", b"k2"]


class Net:
    def __init__(self, n: int, connected_direct: bool) -> None:
        self.names = [f"n{i}" for i in range(n)]
        self.nodes = {name: MemoryReplica(name) for name in self.names}
        self.links = [(s, d) for s in self.names for d in self.names if s != d]
        self.cursors = {link: Cursor(link[0], {}) for link in self.links}
        self.inflight: dict[tuple[str, str], list[list]] = {link: [] for link in self.links}
        self.cut: set[tuple[str, str]] = set()
        self.use_exclusions = connected_direct
        self.written = []

    def live_direct(self, sub: str) -> list[str]:
        return [d for (s, d) in self.links if s == sub and (s, d) not in self.cut]

    def send(self, link, limit):
        sub, srv = link
        cur = self.cursors[link]
        if self.use_exclusions:
            cur.set_exclude(exclusions(srv, self.live_direct(sub)))
        batch = []
        for origin, first, last in cur.ranges(self.nodes[srv].vv, limit):
            batch += self.nodes[srv].read(origin, first, last)
        if batch:
            cur.on_sent(batch)
            self.inflight[link].append(batch)

    def deliver(self, link, index, duplicate):
        q = self.inflight[link]
        if not q or link in self.cut:
            return
        batch = q[index % len(q)] if duplicate else q.pop(index % len(q))
        self.nodes[link[0]].receive(batch)
        self.cursors[link].on_ack(self.nodes[link[0]].vv)

    def reset(self, link):
        """Reconnect: in-flight data is lost, the cursor restarts from Hello's vv."""
        self.inflight[link] = []
        self.cursors[link] = Cursor(link[0], self.nodes[link[0]].vv)

    def drain(self):
        self.cut.clear()
        for link in self.links:
            self.reset(link)
        for _ in range(10 * len(self.names)):
            for link in self.links:
                self.send(link, 1000)
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
    st.tuples(st.just("send"), st.integers(0, 40), st.integers(1, 4)),
    st.tuples(st.just("deliver"), st.integers(0, 40), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 40)),
    st.tuples(st.just("cut"), st.integers(0, 40)),
    st.tuples(st.just("heal"), st.integers(0, 40)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 5), use_exclusions=st.booleans(), actions=st.lists(action, max_size=80))
def test_any_delivery_schedule_converges_to_the_lww_maximum(n, use_exclusions, actions):
    net = Net(n, use_exclusions)
    clock = 0
    for act in actions:
        kind = act[0]
        if kind == "write":
            _, who, key, value, dt = act
            clock += dt
            node = net.nodes[net.names[who % n]]
            net.written.append(node.write(key, value, clock))
        else:
            link = net.links[act[1] % len(net.links)]
            if kind == "send" and link not in net.cut:
                net.send(link, act[2])
            elif kind == "deliver":
                net.deliver(link, act[2], act[3])
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
    expected: dict[bytes, object] = {}
    for w in net.written:
        if w.key not in expected or (w.hlc, w.origin) > (
            expected[w.key].hlc,
            expected[w.key].origin,
        ):
            expected[w.key] = w
    assert {k: w.value for k, w in expected.items() if w.op == 1} == first.live()
    assert sum(first.vv.values()) == len(net.written)
