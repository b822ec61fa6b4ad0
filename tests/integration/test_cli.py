"""The cluster tool end to end through the real CLI, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.backends.procfs import pid_alive
from cluster.wait import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "REMESH_HOME": str(tmp_path / "home")}

    def run(*args: str, ok: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            input=input,
            timeout=120,
        )
        if ok and p.returncode != 0:
            raise AssertionError(
                f"cluster {' '.join(args)} exited {p.returncode}:\n"
                f"{p.stdout.decode()}\n{p.stderr.decode()}"
            )
        return p

    yield run
    # Every cluster a test left is brought down; no process may survive and no node
    # log may hold an ERROR or traceback (unless the test provoked one on purpose).
    from cluster.api import Cluster
    from cluster.errors import ClusterError

    home, problems = tmp_path / "home", []
    for name in Cluster.list(home):
        try:
            c = Cluster(home / name)
        except ClusterError:  # a test that damaged the state purges it itself
            assert run("down", "--purge", "--cluster", name, ok=False).returncode == 0
            continue
        pids = c.pids()
        run("down", "--cluster", name, ok=False)
        problems += [f"pid {p} of {name} still alive" for p in pids if pid_alive(p)]
        if not getattr(run, "expect_errors", False):
            problems += c.unexpected_log_lines()
    assert not problems, "\n".join(problems)


def out(p: subprocess.CompletedProcess) -> str:
    return p.stdout.decode()


def test_cli_end_to_end_mesh3(cli, tmp_path):
    up = cli("up", "mesh3.yaml")  # the built-in: there is no mesh3.yaml in tmp_path
    assert "cluster mesh3 up" in out(up) and out(up).count("RUNNING") == 3
    assert cli("up", str(ROOT / "topology/mesh3.yaml"), ok=False).returncode == 2

    # The real supervisor client agrees.
    conf = tmp_path / "home/mesh3/supervisord.conf"
    ctl = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), "status"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    for node in ("node-a", "node-b", "node-c"):
        assert any(
            line.startswith(node) and "RUNNING" in line for line in ctl.stdout.splitlines()
        ), ctl.stdout

    cli("write", "node-a", "k", "v")
    cli("converge", "--timeout", "20")
    assert out(cli("read", "node-c", "k")) == "v\n"

    status = json.loads(out(cli("status", "--json")))
    assert [n["name"] for n in status["nodes"]] == ["node-a", "node-b", "node-c"]
    assert all(all(n["links"].values()) and len(n["links"]) == 2 for n in status["nodes"])

    # Partition: a write at node-a is not visible at node-c until healed.
    cli("partition", "node-a", "node-b,node-c")
    assert "blackhole: node-a>node-b node-a>node-c node-b>node-a node-c>node-a" in out(
        cli("status")
    )
    cli("write", "node-a", "cut", "1")
    cli("write", "node-c", "other-side", "2")
    assert cli("converge", "--timeout", "3", ok=False).returncode == 1
    assert cli("read", "node-c", "cut", ok=False).returncode == 1
    cli("heal")
    assert "links: no faults" in out(cli("status"))
    conv = cli("converge", "--timeout", "20")
    assert "converged in" in out(conv)
    # Converged means the same digest and the same version vector on every node.
    report = json.loads(out(cli("converge", "--timeout", "20", "--json")))
    assert report["converged"] is True
    vvs = [n["vv"] for n in report["nodes"]]
    assert vvs == [vvs[0]] * 3, report
    assert {origin.split("@")[0]: seq for origin, seq in vvs[0].items()} == {
        "node-a": 2,
        "node-c": 1,
    }, report
    assert len({n["digest"] for n in report["nodes"]}) == 1, report
    assert out(cli("read", "node-c", "cut")) == "1\n"
    assert out(cli("read", "node-a", "other-side")) == "2\n"

    # Kill, write elsewhere, start, converge.
    cli("kill", "node-b")
    status = json.loads(out(cli("status", "--json")))
    assert status["nodes"][1]["state"] != "RUNNING"
    cli("write", "node-a", "while-b-dead", "3")
    cli("start", "node-b")
    cli("converge", "--timeout", "20")
    assert out(cli("read", "node-b", "while-b-dead")) == "3\n"

    # Pause / resume.
    cli("pause", "node-c")
    assert json.loads(out(cli("status", "--json")))["nodes"][2]["state"] == "PAUSED"
    cli("write", "node-a", "while-c-paused", "4")
    cli("resume", "node-c")
    cli("converge", "--timeout", "20")
    assert out(cli("read", "node-c", "while-c-paused")) == "4\n"

    # Binary value from stdin, delete, scan.
    cli("write", "node-a", "bin", "--file", "-", input=b"\x00\xff\x01")
    cli("converge", "--timeout", "20")
    assert cli("read", "node-b", "bin", "--raw").stdout == b"\x00\xff\x01"
    cli("delete", "node-b", "k")
    cli("converge", "--timeout", "20")
    assert cli("read", "node-a", "k", ok=False).returncode == 1
    keys = [line.split("\t")[0] for line in out(cli("scan", "node-a")).splitlines()]
    assert "k" not in keys and "cut" in keys

    pids = [n["pid"] for n in json.loads(out(cli("status", "--json")))["nodes"]]
    sup_pid = int((tmp_path / "home/mesh3/supervisord.pid").read_text())
    cli("down")
    assert not any(pid_alive(p) for p in pids + [sup_pid])
    logs = "\n".join(
        (tmp_path / f"home/mesh3/logs/{n}.log").read_text() for n in ("node-a", "node-b", "node-c")
    )
    assert "Traceback" not in logs and " ERROR " not in logs


def test_cli_bad_usage_exits_2_without_traceback(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes: [a, a]\n")
    p = cli("validate", str(bad), ok=False)
    assert p.returncode == 2 and "duplicate" in p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()
    p = cli("up", str(bad), ok=False)
    assert p.returncode == 2 and not (tmp_path / "home/x").exists()
    p = cli("status", ok=False)
    assert p.returncode == 2 and "no cluster" in p.stderr.decode()
    p = cli("frobnicate", ok=False)
    assert p.returncode == 2
    assert out(cli("validate", str(ROOT / "topology/ring5.yaml"))).startswith(
        f"{ROOT / 'topology/ring5.yaml'}: ok"
    )


def test_cli_unknown_node_and_bad_key(cli):
    cli("up", str(ROOT / "topology/pair.yaml"))
    p = cli("write", "node-x", "k", "v", ok=False)
    assert p.returncode == 2 and "no node 'node-x'" in p.stderr.decode()
    p = cli("write", "node-a", "", "v", ok=False)
    assert p.returncode == 2 and "key must not be empty" in p.stderr.decode()
    p = cli("partition", "node-a", ok=False)
    assert p.returncode == 2


def test_down_then_up_keeps_data(cli):
    cli("up", str(ROOT / "topology/pair.yaml"))
    cli("write", "node-a", "persist", "yes")
    cli("converge")
    cli("down")
    cli("up", str(ROOT / "topology/pair.yaml"))
    assert out(cli("read", "node-b", "persist")) == "yes\n"
    # Shared options work before the verb too.
    assert json.loads(out(cli("--json", "list")))[0]["cluster"] == "pair"
    cli("down", "--purge")
    assert "no clusters" in out(cli("list"))


def test_fixture_brings_up_and_tears_down(remesh_cluster):
    c = remesh_cluster(ROOT / "topology/line4.yaml")
    c.write("node-a", b"end", b"to-end")
    c.converge(20)
    assert c.read("node-d", b"end") == b"to-end"
    pids = [v.pid for v in c.status()]
    c.down()
    wait_for(lambda: not any(pid_alive(p) for p in pids), 5, "no node process left")


def test_up_with_a_node_that_cannot_start_fails_fast_and_cleans_up(cli, tmp_path):
    """A node that exits during start ends the wait at once: with a 600 s readiness
    timeout, only failing fast returns within the CLI helper's 120 s limit."""
    import socket

    cli.expect_errors = True  # node-a logs why it could not listen

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        topo = tmp_path / "clash.yaml"
        topo.write_text(f"name: clash\nnodes:\n  - {{name: node-a, port: {port}}}\n  - node-b\n")
        p = cli("up", str(topo), "--timeout", "600", ok=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "node-a failed to start" in err and "port in use" in err
    assert not (tmp_path / "home/clash/supervisord.pid").exists() or not pid_alive(
        int((tmp_path / "home/clash/supervisord.pid").read_text())
    )


def test_up_with_a_proxy_that_cannot_listen_fails_fast_with_its_log(tmp_path, monkeypatch):
    """The link proxy exiting at start is reported at once, with the reason from its log."""
    import socket

    from cluster import api, state

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        real = state.free_ports
        # nodes take the first ports, the proxy's control and link ports the rest
        monkeypatch.setattr(state, "free_ports", lambda n, **kw: [*real(n - 1, **kw), taken])
        with pytest.raises(api.ClusterError) as info:
            api.Cluster.up(ROOT / "topology/pair.yaml", home=tmp_path / "home", timeout=600)
    msg = str(info.value)
    # "failed to start" (not "timed out"): the wait ended as soon as the proxy exited
    assert "proxy failed to start" in msg and f":{taken}" in msg and "in use" in msg, msg
    pid_file = tmp_path / "home/pair/supervisord.pid"
    assert not pid_file.exists() or not pid_alive(int(pid_file.read_text()))


def kill_supervisor(c) -> None:
    daemon = c.daemon_pid()
    assert daemon is not None, "supervisord is not running"
    os.kill(daemon, signal.SIGKILL)


def test_down_and_up_after_supervisord_was_killed_leave_no_orphan(cli, tmp_path):
    """supervisord SIGKILLed cannot stop its children: `down` finds and stops them,
    and `up` clears such leftovers before it starts (they would hold the ports)."""
    from cluster.api import Cluster

    cli("up", str(ROOT / "topology/pair.yaml"))
    cli("write", "node-a", "k", "before")
    cli("converge")
    c = Cluster(tmp_path / "home/pair")
    children = sorted(p.pid for p in c.processes().values() if p.pid)
    kill_supervisor(c)
    wait_for(lambda: not c.is_up(), 10, "supervisord to die")
    assert all(pid_alive(p) for p in children), "the children outlive a SIGKILLed supervisord"
    st = json.loads(out(cli("status", "--json")))["nodes"]
    assert {n["state"] for n in st} == {"UNSUPERVISED"} and {n["pid"] for n in st} < set(children)
    assert all(n["keys"] == 1 for n in st), st  # still reached over gRPC
    assert "UNSUPERVISED" in cli("status").stderr.decode()

    p = cli("down")
    assert all(f"pid {pid}:" in p.stderr.decode() for pid in children), p.stderr.decode()
    assert not any(pid_alive(pid) for pid in children)

    cli("up", str(ROOT / "topology/pair.yaml"))
    assert out(cli("read", "node-b", "k")) == "before\n"
    children = sorted(p.pid for p in Cluster(tmp_path / "home/pair").processes().values() if p.pid)
    planned = json.loads((tmp_path / "home/pair/cluster.json").read_text())
    kill_supervisor(c)
    wait_for(lambda: not c.is_up(), 10, "supervisord to die")
    p = cli("up", str(ROOT / "topology/pair.yaml"))
    assert not any(pid_alive(pid) for pid in children)
    assert out(cli("read", "node-a", "k")) == "before\n"
    # Every port kept (they were held by the leftovers while `up` planned, so it took new
    # ones for all: clients and topologies rely on them).
    now = json.loads((tmp_path / "home/pair/cluster.json").read_text())
    assert [now[k] for k in ("nodes", "proxy", "metrics")] == [
        planned[k] for k in ("nodes", "proxy", "metrics")
    ]
    assert "note: stopped node-a, node-b, proxy, left running by a supervisord that died" in (
        p.stderr.decode()
    )


def test_up_again_moves_off_ports_taken_while_the_cluster_was_down(cli, tmp_path):
    """`down` keeps the ports, but something else may take one meanwhile: `up` swaps
    such a port for a free one instead of failing, and the data is still there."""
    import socket

    from cluster.api import Cluster

    cli("up", str(ROOT / "topology/pair.yaml"))
    cli("write", "node-a", "k", "kept")
    cli("converge")
    cli("down")
    before = json.loads((tmp_path / "home/pair/cluster.json").read_text())
    link_port = int(before["proxy"]["links"]["node-b>node-a"].rsplit(":", 1)[1])
    with socket.socket() as node_sock, socket.socket() as link_sock:
        node_sock.bind(("127.0.0.1", before["nodes"]["node-a"]["port"]))
        node_sock.listen()
        link_sock.bind(("127.0.0.1", link_port))
        link_sock.listen()
        cli("up", str(ROOT / "topology/pair.yaml"))
        c = Cluster(tmp_path / "home/pair")
        assert c.port("node-a") != before["nodes"]["node-a"]["port"]
        assert c.port("node-b") == before["nodes"]["node-b"]["port"]
        links = c.link_addresses()
        assert links["node-b>node-a"] != before["proxy"]["links"]["node-b>node-a"]
        assert links["node-a>node-b"] == before["proxy"]["links"]["node-a>node-b"]
        cli("write", "node-b", "k2", "new")
        cli("converge")
        assert out(cli("read", "node-a", "k2")) == "new\n"
        assert out(cli("read", "node-b", "k")) == "kept\n"
