"""Members joining and leaving a running cluster, through the real CLI and the library."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.backends.base import RUNNING
from cluster.errors import ClusterError
from cluster.wait import wait_for
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture
from tests.integration.workload import Acked, assert_lww

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESH3 = str(ROOT / "topology/mesh3.yaml")


class Writers:
    """One thread per node writing batches until stopped; records every acknowledged write.
    A node that is leaving refuses writes: its thread stops writing there, nothing else.
    Its thread may also be starved until the node has stopped (a loaded machine): for a
    node named in ``leaving``, a refused connection (the write never left) ends it too."""

    def __init__(self, c: Cluster, nodes: list[str], batch: int = 10) -> None:
        self.c, self.batch = c, batch
        self.acked: list[Acked] = []
        self.refused: dict[str, str] = {}
        self.leaving: set[str] = set()
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in nodes]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        if self.errors:
            raise self.errors[0]

    def count(self, node: str) -> int:
        with self._lock:
            return sum(1 for a in self.acked if a.origin.startswith(node + "@"))

    def _run(self, node: str) -> None:
        rng, i = random.Random(node), 0
        try:
            while not self.stop.is_set():
                items: list[tuple[bytes, bytes | None]] = []
                for _ in range(self.batch):
                    i += 1
                    value = None if rng.randrange(6) == 0 else f"{node}-{i}".encode()
                    items.append((b"key-%d" % rng.randrange(200), value))
                try:
                    versions = self.c.write_batch(node, items)
                except ClusterError as exc:
                    gone = node in self.leaving and "Connection refused" in str(exc)
                    if "decommissioned" not in str(exc) and not gone:
                        raise
                    self.refused[node] = str(exc)
                    return
                with self._lock:
                    self.acked += [
                        Acked(k, v.hlc, v.origin, val)
                        for (k, val), v in zip(items, versions, strict=True)
                    ]
        except BaseException as exc:  # noqa: BLE001 - re-raised on exit
            self.errors.append(exc)


def state_files(home: Path) -> dict[str, bytes]:
    d = home / "mesh3"
    files = ["cluster.json", "topology.yaml", "proxy.json", "supervisord.conf"]
    files += [str(p.relative_to(d)) for p in sorted((d / "nodes").glob("*/node.yaml"))]
    return {f: (d / f).read_bytes() for f in files}


def test_cli_add_node_d_to_mesh3_while_every_node_writes(cli, tmp_path):  # noqa: F811
    cli("up", MESH3)
    c = Cluster.open("mesh3", tmp_path / "home")
    with Writers(c, ["node-a", "node-b", "node-c"]) as w:
        wait_for(lambda: all(w.count(f"node-{n}") >= 50 for n in "abc"), 30, "writes")
        added = cli("add", "node-d")
        assert "node-d added to mesh3 and caught up" in out(added)
        before = len(w.acked)
        wait_for(lambda: len(w.acked) > before + 100, 30, "writes after the add")
    c = Cluster.open("mesh3", tmp_path / "home")
    assert c.topology.names() == ["node-a", "node-b", "node-c", "node-d"]
    assert sorted(c.running_nodes()) == c.topology.names()
    cli("converge", "--timeout", "60")
    st = c.node_status("node-d")
    assert st.replica_id.startswith("node-d@") and len(st.vv) == 3
    assert all(p.connected for p in st.peers if p.address) and len(st.peers) == 3
    for n in ("node-a", "node-b", "node-c"):  # they learned node-d without a restart
        peers = {p.peer: p for p in c.node_status(n).peers}
        assert peers["node-d"].connected and peers["node-d"].address
        assert c.node_status(n).pid == c.processes()[n].pid
    assert_lww(c, w.acked, c.topology.names())
    assert '"node-d"' in (tmp_path / "home/mesh3/cluster.json").read_text()
    assert "node-d" in (tmp_path / "home/mesh3/topology.yaml").read_text()
    status = out(cli("status"))
    assert status.count("4/4 up") == 0 and status.count("3/3 up") == 4


def test_cli_remove_node_b_while_every_node_writes_then_add_it_back(cli, tmp_path):  # noqa: F811
    cli("up", MESH3)
    c = Cluster.open("mesh3", tmp_path / "home")
    pids = {n: c.processes()[n].pid for n in ("node-a", "node-c")}
    with Writers(c, ["node-a", "node-b", "node-c"]) as w:
        wait_for(lambda: w.count("node-b") >= 100, 30, "node-b's writes")
        w.leaving.add("node-b")
        removed = cli("remove", "node-b")
        assert "node-b removed from mesh3, every entry held" in out(removed)
        before = len(w.acked)
        wait_for(lambda: len(w.acked) > before + 100, 30, "writes after the remove")
    assert "decommissioned" in w.refused["node-b"] or "Connection refused" in w.refused["node-b"]
    c = Cluster.open("mesh3", tmp_path / "home")
    assert c.topology.names() == ["node-a", "node-c"]
    assert not (tmp_path / "home/mesh3/nodes/node-b").exists()
    cli("converge", "--timeout", "60")
    assert_lww(c, w.acked, ["node-a", "node-c"])  # node-b's acknowledged writes included
    assert w.count("node-b") >= 100
    for n in ("node-a", "node-c"):
        st = c.node_status(n)
        assert st.pid == pids[n], f"{n} was restarted"
        assert [p.peer for p in st.peers if p.address] == [
            m for m in ("node-a", "node-c") if m != n
        ]
    rows = out(cli("status")).splitlines()
    assert [r.split()[0] for r in rows[1:3]] == ["node-a", "node-c"] and len(rows) == 5
    assert rows[4].startswith("metrics: node-a http") and "node-b" not in rows[4]
    scrape = tmp_path / "home" / "mesh3" / "prometheus.yml"
    assert "node-a" in scrape.read_text() and "node-b" not in scrape.read_text()

    cli("add", "node-b")  # the name comes back as a fresh incarnation with everything
    c = Cluster.open("mesh3", tmp_path / "home")
    assert "node: node-b" in scrape.read_text(), "a member that joins is scraped too"
    assert c.metrics("node-b").count("remesh_node_info{") == 1
    st = c.node_status("node-b")
    old = {a.origin for a in w.acked if a.origin.startswith("node-b@")}
    assert st.replica_id not in old and old <= set(st.vv)
    cli("converge", "--timeout", "60")
    assert_lww(c, w.acked, c.topology.names())


def test_cli_remove_of_a_node_whose_writes_have_not_left_fails_and_keeps_it(cli, tmp_path):  # noqa: F811
    """node-b is cut off and written to: `remove` must not stop it, however short the
    timeout. It fails naming who lacks which of node-b's origins; node-b keeps running
    (decommissioned) with its writes; healed, the same remove succeeds with them held."""
    cli("up", MESH3)
    c = Cluster.open("mesh3", tmp_path / "home")
    pid = c.processes()["node-b"].pid
    cli("isolate", "node-b")
    c.write_batch("node-b", [(b"only-b-%d" % i, b"v%d" % i) for i in range(20)])
    origin = c.node_status("node-b").replica_id
    p = cli("remove", "node-b", "--timeout", "2", ok=False)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert "not every remaining node holds node-b's entries" in err, err
    for n in ("node-a", "node-c"):
        assert f"{n} lacks 20 entries of {origin}" in err, err
    assert "still running" in err and "Traceback" not in err, err
    c = Cluster.open("mesh3", tmp_path / "home")
    assert c.topology.names() == ["node-a", "node-b", "node-c"]
    assert c.process_state("node-b") == RUNNING and c.processes()["node-b"].pid == pid
    st = c.node_status("node-b")
    assert st.vv[origin] == 20 and st.state == "decommissioned"
    assert [c.read("node-b", b"only-b-%d" % i) for i in range(20)] == [
        b"v%d" % i for i in range(20)
    ]
    for n in ("node-a", "node-c"):
        assert c.node_status(n).vv.get(origin, 0) == 0, f"{n} got node-b's writes while cut off"
    # What is left, status says; the error named both ways on: remove again, or keep it.
    row = next(r for r in out(cli("status")).splitlines() if r.startswith("node-b "))
    assert "RUNNING (decommissioned)" in row, row
    assert "`cluster restart node-b` and it takes writes again" in err, err
    cli("restart", "node-b")  # kept: it takes writes again, its cut-off writes with it
    cli("write", "node-b", "after", "restart")
    assert Cluster.open("mesh3", tmp_path / "home").node_status("node-b").vv[origin] == 20

    cli("heal")
    assert "every entry held" in out(cli("remove", "node-b"))
    c = Cluster.open("mesh3", tmp_path / "home")
    for n in ("node-a", "node-c"):
        assert c.read(n, b"only-b-19") == b"v19", n


def dialled(c: Cluster, node: str) -> set[str]:
    """The peers ``node`` has a link to (as it runs, not as its files say)."""
    return {p.peer for p in c.node_status(node).peers if p.address}


STATE_FILES = ("cluster.json", "topology.yaml", "supervisord.conf", "proxy.json")


def test_cli_add_whose_node_cannot_start_is_undone_and_can_be_added_again(cli, tmp_path):  # noqa: F811
    """node-d's process cannot start (its log path is a directory: supervisord cannot spawn
    it): `add` fails saying so and puts the cluster back as it was: every state file, the
    others' peers and links, nothing of node-d left. Without the fault, the same add works."""
    cli("up", MESH3)
    cli("write", "node-a", "k", "v")
    state = tmp_path / "home/mesh3"
    before = {f: (state / f).read_text() for f in STATE_FILES}
    blocker = state / "logs/node-d.log"
    blocker.mkdir()
    p = cli("add", "node-d", ok=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "node-d failed to start" in err, err
    assert "node-d was not added: the cluster is as it was" in err and "Traceback" not in err
    assert {f: (state / f).read_text() for f in STATE_FILES} == before
    assert not (state / "nodes/node-d").exists()
    assert not list((state / "secrets/nodes").glob("node-d.*"))
    c = Cluster.open("mesh3", tmp_path / "home")
    assert sorted(c.processes()) == ["node-a", "node-b", "node-c", "proxy"]
    c.wait_ready(30)  # every link up, none of them to node-d
    for n in c.topology.names():
        assert dialled(c, n) == {"node-a", "node-b", "node-c"} - {n}, n

    blocker.rmdir()
    assert "node-d added to mesh3" in out(cli("add", "node-d"))
    assert out(cli("read", "node-d", "k")) == "v\n"


def test_cli_remove_whose_peer_does_not_answer_says_what_is_left(cli, tmp_path):  # noqa: F811
    """node-b hangs (SIGSTOP behind the tool's back) while node-c is removed by force:
    node-c goes, node-a takes its new peers, node-b cannot; the error says so and which
    verb finishes it, and that verb does."""
    import os
    import signal

    cli("up", MESH3)
    c = Cluster.open("mesh3", tmp_path / "home")
    hung = c.processes()["node-b"].pid
    os.kill(hung, signal.SIGSTOP)
    try:
        p = cli("remove", "node-c", "--force", ok=False)
    finally:
        os.kill(hung, signal.SIGCONT)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert "node-c is removed and stopped, but node-b did not take its new peers" in err, err
    assert "`cluster restart node-b`" in err and "Traceback" not in err, err
    c = Cluster.open("mesh3", tmp_path / "home")
    assert c.topology.names() == ["node-a", "node-b"] and "node-c" not in c.processes()
    assert not (tmp_path / "home/mesh3/nodes/node-c").exists()
    assert dialled(c, "node-a") == {"node-b"}
    assert dialled(c, "node-b") == {"node-a", "node-c"}  # what is left

    cli("restart", "node-b")
    assert dialled(c, "node-b") == {"node-a"}
    cli("write", "node-b", "k", "v")
    cli("converge", "--timeout", "30")


def test_cli_membership_bad_input_exits_2_and_changes_nothing(cli, tmp_path):  # noqa: F811
    cli("up", MESH3)
    home = tmp_path / "home"
    before = state_files(home)
    cases = [
        (("add", "node-a"), "already in cluster mesh3"),
        (("add", "Node_D"), "bad node name"),
        (("add", "node-d", "--links", "node-a,node-x"), "unknown node(s) node-x"),
        (("remove", "node-x"), "no node 'node-x'"),
    ]
    cli("stop", "node-c")
    cases.append((("remove", "node-c"), "node-c is STOPPED"))
    for args, message in cases:
        p = cli(*args, ok=False)
        err = p.stderr.decode()
        assert p.returncode == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert state_files(home) == before, f"{args} changed the state directory"
    assert "--force" in cli("remove", "node-c", ok=False).stderr.decode()
    cli("start", "node-c")
    c = Cluster.open("mesh3", home)
    assert c.topology.names() == ["node-a", "node-b", "node-c"]
    cli("write", "node-a", "still", "writable")

    solo = tmp_path / "solo.yaml"
    solo.write_text("name: solo\nproxies: false\nnodes: [only]\n")
    cli("up", str(solo))
    p = cli("remove", "only", "--cluster", "solo", ok=False)
    assert p.returncode == 2 and "the last node" in p.stderr.decode()
    assert Cluster.open("solo", home).topology.names() == ["only"]


def test_library_add_remove_and_up_reconciles_an_edited_file(remesh_cluster, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: recon\nnodes: [node-a, node-b, node-c]\n")
    c = remesh_cluster(path)
    for i in range(20):
        c.write("node-b", b"b%d" % i, b"v")
    c.add("node-d", links=["node-a"])
    assert c.topology.peers("node-d") == ["node-a"] and c.topology.shape == "explicit"
    c.remove("node-d")
    assert c.topology.names() == ["node-a", "node-b", "node-c"]
    c.down()
    path.write_text("name: recon\nnodes: [node-a, node-c, node-e]\n")
    with pytest.raises(ClusterError, match="no longer names node-b of cluster recon"):
        remesh_cluster(path)  # dropping a member needs force=True
    c = remesh_cluster(path, force=True)
    assert c.reconciled is not None
    assert (c.reconciled.added, c.reconciled.removed) == (["node-e"], ["node-b"])
    assert c.topology.names() == ["node-a", "node-c", "node-e"]
    c.converge(60)
    assert c.read("node-e", b"b7") == b"v"
    c.down()
    c = remesh_cluster(path)  # the same file again: nothing to reconcile
    assert c.reconciled is None
    c.down()
    path.write_text("name: recon\ntenant: other\nnodes: [node-a, node-c]\n")
    with pytest.raises(ClusterError, match="another tenant"):
        remesh_cluster(path)


def test_cli_up_of_the_file_refuses_to_drop_an_added_member_and_up_alone_brings_it_back(
    cli, tmp_path  # noqa: F811
):
    home = tmp_path / "home"
    path = tmp_path / "m3.yaml"
    path.write_text("name: m3\nproxies: false\nnodes: [node-a, node-b, node-c]\n")
    cli("up", str(path))
    cli("add", "node-d")
    cli("write", "node-d", "from-d", "1")
    cli("down")
    before = (home / "m3" / "cluster.json").read_bytes()

    p = cli("up", str(path), ok=False)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert f"{path} no longer names node-d of cluster m3" in err, err
    assert "Nothing was changed" in err and "--force" in err and "with no file" in err, err
    assert (home / "m3" / "cluster.json").read_bytes() == before
    assert not Cluster.open("m3", home).is_up()

    up = out(cli("up"))  # no file: the cluster as it was, node-d and its data included
    assert "cluster m3 up" in up and "reconciled" not in up
    assert Cluster.open("m3", home).topology.names() == ["node-a", "node-b", "node-c", "node-d"]
    assert out(cli("read", "node-d", "from-d")).strip() == "1"
    cli("down")

    up = out(cli("up", "--force", str(path)))
    assert "members reconciled with the file: removed node-d" in up
    assert Cluster.open("m3", home).topology.names() == ["node-a", "node-b", "node-c"]
    assert out(cli("read", "node-a", "from-d")).strip() == "1"  # checked: its writes stay
