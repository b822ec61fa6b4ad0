"""A member that lies in a snapshot, against real node processes (issue 24, findings 1
and 2).

mesh3 holds acknowledged writes; node-c is pointed at a fake member (``Admin.SetPeers``)
that answers its Hello with a Welcome and a lying snapshot. Each case checks that
nothing acknowledged was lost, nothing diverged silently (new writes reach every
node and the digests agree), node-c kept serving, and the reason is in node-c's log,
its ``status`` (the link's last error) and its metrics.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cluster.ports import free_ports
from cluster.wait import wait_for
from node.clock import pack, wall_ms
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from tests.hostile.member import FakeServer, FakeSubscriber, Script, snapshot, welcome
from tests.integration.nodeproc import TOKEN, NodeProc, wait_converged

pytestmark = pytest.mark.integration

KEYS = 40
LIAR = "node-m"


class Mesh:
    def __init__(self, nodes: dict[str, NodeProc], metrics: dict[str, str]) -> None:
        self.nodes, self.metrics_at = nodes, metrics
        self.a, self.b, self.c = (nodes[n] for n in ("node-a", "node-b", "node-c"))

    def metrics(self, name: str) -> str:
        with urllib.request.urlopen(f"http://{self.metrics_at[name]}/metrics", timeout=5) as r:
            return r.read().decode()

    def set_peers(self, node: NodeProc, peers: dict[str, str]) -> None:
        pb_grpc.AdminStub(node.channel).SetPeers(pb.SetPeersRequest(peers=peers), timeout=30)


@pytest.fixture
def mesh(tmp_path) -> Iterator[Mesh]:
    yield from running_mesh(tmp_path)


def running_mesh(tmp_path, refusing=("node-c",), **settings) -> Iterator[Mesh]:
    names = ["node-a", "node-b", "node-c"]
    ports = free_ports(2 * len(names))
    port = dict(zip(names, ports[:3], strict=True))
    metrics = {n: f"127.0.0.1:{p}" for n, p in zip(names, ports[3:], strict=True)}
    nodes = {
        n: NodeProc(
            tmp_path,
            n,
            port[n],
            {p: port[p] for p in names if p != n},
            metrics_listen=metrics[n],
            **settings,
        )
        for n in names
    }
    try:
        for n in nodes.values():
            n.start()
        yield Mesh(nodes, metrics)
    finally:
        problems = []
        for n in nodes.values():
            n.stop()
            n.close()
            # the lie refused is the one ERROR expected, and only on node-c
            problems += [
                f"{n.name}: {line}"
                for line in n.unexpected_log_lines()
                if not (n.name in refusing and LIAR in line and "refused" in line)
            ]
        assert not problems, "\n".join(problems)


def held(mesh: Mesh) -> dict[str, int]:
    """Keys each node holds."""
    return {name: n.status().keys for name, n in mesh.nodes.items()}


@contextmanager
def lie_to_node_c(mesh: Mesh, script: Script) -> Iterator[FakeServer]:
    """Acknowledged writes everywhere, then node-c subscribes to the liar and hears
    ``script``; yields the liar once node-c has heard all of it, and takes it out of
    node-c's peers afterwards."""
    for i in range(KEYS):
        mesh.a.put(b"k%03d" % i, b"v")
    wait_converged(list(mesh.nodes.values()))
    liar = FakeServer(LIAR, TOKEN, "it", free_ports(1)[0], script)
    peers = {n: x.address for n, x in mesh.nodes.items() if n != "node-c"}
    try:
        mesh.set_peers(mesh.c, {**peers, LIAR: liar.address})
        liar.wait_script_sent()
        yield liar
    finally:
        mesh.set_peers(mesh.c, peers)
        liar.close()


def refused_link(mesh: Mesh, word: str = "refused") -> str:
    """node-c's link to the liar is down with a reason holding ``word`` (status)."""

    def reason() -> str:
        peer = next((p for p in mesh.c.status().peers if p.peer == LIAR), None)
        return peer.last_error if peer and not peer.connected else ""

    def missing() -> str:
        return f"node-c's link to {LIAR} refused in status (now {reason()!r}; keys {held(mesh)})"

    def refused() -> str:  # the reason as seen: the link may be back up (and clear) after
        why = reason()
        return why if word in why else ""

    return wait_for(refused, 20, missing)


def serves(node: NodeProc) -> dict[str, int]:
    """The vv ``node`` welcomes another member with: what it would serve on."""
    fake = FakeSubscriber("node-x", node.name, node.address, TOKEN, "it")
    try:
        (first,) = fake.first(1)
    finally:
        fake.close()
    return dict(first.welcome.vv)


def nothing_lost_nothing_diverged(mesh: Mesh, keys: int = KEYS) -> None:
    """Every acknowledged key held, node-c serves, and a new write at node-a reaches
    every node (no vv claims it already) with equal digests."""
    assert held(mesh) == {n: keys for n in mesh.nodes}
    mesh.c.put(b"c-still-serves", b"1")
    mesh.a.put(b"after-the-lie", b"1")
    wait_converged(list(mesh.nodes.values()))
    for n in mesh.nodes.values():
        assert n.get(b"after-the-lie") == b"1" and n.get(b"c-still-serves") == b"1", n.name
        assert n.status().keys == keys + 2, n.name


def test_a_snapshot_claiming_every_origin_to_the_end_of_time_is_refused(mesh):
    """Finding 1: vv 10^12 for every origin (node-c's own too), no records. node-c used to
    drop every key (each was "covered"), pass the empty state on to node-b, and never
    take node-a's next write (its vv claimed it)."""

    def script(liar: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        claim = {o: 10**12 for o in [*hello.vv, hello.replica_id]}
        yield welcome(LIAR, liar.origin, claim)
        yield from snapshot(claim)

    with lie_to_node_c(mesh, script):
        why = refused_link(mesh)
        assert "snapshot" in why and "own" in why, why
        nothing_lost_nothing_diverged(mesh)
        log = mesh.c.log.read_text()
        assert f"link to {LIAR}: refused: {LIAR}" in log and "1,000,000,000,000" in log
        assert 'remesh_rejected_total{reason="snapshot"}' in mesh.metrics("node-c")
        assert 'remesh_rejected_total{reason="snapshot"} 0.0' not in mesh.metrics("node-c")
        served_by_c = serves(mesh.c)
        assert all(seq < 10**6 for seq in served_by_c.values()), served_by_c


def test_a_snapshot_claiming_other_origins_past_what_they_announced_moves_nothing(mesh):
    """Finding 1 without node-c's own origin: node-a and node-b announce their own logs
    to node-c directly, so a claim past that is refused and no held key is dropped."""

    def script(liar: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        claim = {o: 10**12 for o in hello.vv if o != hello.replica_id}
        yield welcome(LIAR, liar.origin, claim)
        yield from snapshot(claim)

    with lie_to_node_c(mesh, script):
        why = refused_link(mesh, "announced")
        assert "snapshot" in why and "not taken" in why, why
        nothing_lost_nothing_diverged(mesh)
        line = f"WARNING node-c node.replication.outbound: node-c: link to {LIAR}: {why}"
        assert line in mesh.c.log.read_text()
        assert 'remesh_rejected_total{reason="snapshot"} 0.0' not in mesh.metrics("node-c")


def test_a_gc_horizon_ahead_of_any_collectable_tombstone_is_refused(mesh):
    """Finding 2: an empty snapshot whose horizon is 59 s ahead (inside
    max_clock_skew_ms) used to be stored, and node-c then refused node-a's entries as
    "stale ... restore a backup" for good."""

    def script(liar: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        yield welcome(LIAR, liar.origin, dict(hello.vv))
        yield from snapshot({}, horizon=pack(wall_ms() + 59_000, 0))

    with lie_to_node_c(mesh, script):
        why = refused_link(mesh)
        assert "GC horizon" in why, why
        assert mesh.c.status().gc_horizon == 0
        nothing_lost_nothing_diverged(mesh)
        assert "GC horizon" in mesh.c.log.read_text()


def test_a_snapshot_claiming_an_origin_nobody_wrote_is_refused(mesh):
    """An origin no peer holds, of a node nobody knows, under a plausible horizon: taken
    on the liar's word it would make node-c claim (and serve on) entries that never
    existed and, with the horizon, refuse older live ones."""

    def script(liar: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        old = pack(wall_ms() - 700_000, 0)  # older than tombstone_grace_ms: plausible
        claim = {**hello.vv, "node-z@00000000000f": 10**12}
        yield welcome(LIAR, liar.origin, claim)
        yield from snapshot(claim, dict.fromkeys(claim, old), horizon=old)

    with lie_to_node_c(mesh, script):
        why = refused_link(mesh)
        assert "node-z@00000000000f, which no peer of this node holds" in why, why
        assert mesh.c.status().gc_horizon == 0
        nothing_lost_nothing_diverged(mesh)
        assert "node-z" not in str(serves(mesh.c))


GRACE_MS, SKEW_MS = 1_000, 500  # so a horizon newer than the writes is plausible at once


@pytest.fixture
def short_grace(tmp_path) -> Iterator[Mesh]:
    yield from running_mesh(tmp_path, tombstone_grace_ms=GRACE_MS, max_clock_skew_ms=SKEW_MS)


def test_what_one_node_took_on_the_liars_word_vouches_for_nothing_elsewhere(short_grace):
    """The two-step lie: the liar writes node-c one entry of its own origin (a member may
    write; node-b gets that origin from the liar directly, so node-c does not relay it)
    and node-c announces holding it; then the liar sends node-b a snapshot claiming
    node-b's own vv and that entry, with a plausible horizon newer than every key.
    node-c's word that node-b lacks the entry used to make the covered rule drop every
    key node-b held dated below the horizon (40 -> 0)."""
    mesh, go = short_grace, threading.Event()
    for i in range(KEYS):
        mesh.a.put(b"k%03d" % i, b"v")
    wait_converged(list(mesh.nodes.values()))
    at = wall_ms()
    horizon = pack(at, 0)  # newer than every key
    wait_for(lambda: wall_ms() > at + GRACE_MS, 10, "the horizon to be old enough to claim")

    def script(liar: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        range_ = {liar.origin: 1}
        entry = pb.Entry(origin=liar.origin, seq=1, hlc=horizon, op=pb.PUT, key=b"m", value=b"m")
        yield welcome(LIAR, liar.origin, range_)
        if hello.node_id == "node-c":
            yield pb.ServerMessage(batch=pb.Batch(entries=[entry]))
            return
        while not go.wait(0.1):
            yield pb.ServerMessage(heartbeat=pb.Heartbeat(vv=range_, wall_ms=wall_ms()))
        claim = {**hello.vv, **range_}
        yield from snapshot(claim, dict.fromkeys(claim, horizon), horizon, [entry])

    liar = FakeServer(LIAR, TOKEN, "it", free_ports(1)[0], script)
    peers = {n: {p: x.address for p, x in mesh.nodes.items() if p != n} for n in mesh.nodes}
    try:
        mesh.set_peers(mesh.b, {**peers["node-b"], LIAR: liar.address})
        wait_for(lambda: len(liar.hellos) == 1, 20, "node-b to subscribe to the liar")
        mesh.set_peers(mesh.c, {**peers["node-c"], LIAR: liar.address})
        wait_for(lambda: liar.origin in mesh.c.status().vv, 20, "node-c to take the range")
        # node-b hears node-c anew: its Welcome announces what node-c now holds
        mesh.set_peers(mesh.b, {"node-a": mesh.a.address, LIAR: liar.address})
        mesh.set_peers(mesh.b, {**peers["node-b"], LIAR: liar.address})
        wait_for(lambda: connected(mesh.b, "node-c"), 20, "node-b's link to node-c")
        go.set()
        wait_for(lambda: liar.scripts_done == 2, 20, "the lie to node-b")
        wait_for(lambda: liar.origin in mesh.b.status().vv, 20, "node-b to judge the snapshot")
        assert held(mesh) == {n: KEYS + 1 for n in mesh.nodes}  # the liar's own write too
        assert mesh.b.status().gc_horizon == 0
        assert f"{LIAR}'s GC horizon not adopted, nothing held dropped" in mesh.b.log.read_text()
    finally:
        for name, node in mesh.nodes.items():
            mesh.set_peers(node, peers[name])
        liar.close()
    nothing_lost_nothing_diverged(mesh, KEYS + 1)


def connected(node: NodeProc, peer: str) -> bool:
    return any(p.peer == peer and p.connected for p in node.status().peers)
