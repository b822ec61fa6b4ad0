"""The link proxy is infrastructure that heals, and a nemesis leaves no fault behind.

Through the real CLI and processes: the proxy SIGKILLed during a partition and during a
heal comes back by itself with its faults, and `heal` then restores every link (no
`down`); `down` during a nemesis stops it first (it heals what it set), and `up` after a
nemesis that was SIGKILLed heals the faults the dead run left, so nodes come back as the
same incarnations with every link up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.backends.procfs import pid_alive
from cluster.faults.leftover import MARKER
from cluster.wait import wait_for
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture
from tests.integration.test_verb_lock import spawn_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESH3 = str(ROOT / "topology/mesh3.yaml")


def proxy_pid(c: Cluster) -> int:
    info = c.processes()["proxy"]
    return info.pid if info.state == "RUNNING" else 0


def status(cli) -> dict:  # noqa: F811
    return json.loads(out(cli("status", "--json")))


def all_links_up(cli) -> bool:  # noqa: F811
    return all(all(n["links"].values()) for n in status(cli)["nodes"])


def test_a_proxy_killed_during_a_partition_and_during_heal_comes_back_and_heals(cli, tmp_path):  # noqa: F811
    cli("up", MESH3)
    c = Cluster(tmp_path / "home/mesh3")
    cli("partition", "node-a", "node-b,node-c")
    cli("write", "node-a", "cut", "1")

    # Killed during the partition: restarted by supervisord with the partition in force.
    first = proxy_pid(c)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: proxy_pid(c) not in (0, first), 30, "supervisord to restart the proxy")
    st = status(cli)
    assert st["proxy"]["state"] == "RUNNING" and st["proxy"]["pid"] != first, st["proxy"]
    assert len(st["faults"]) == 4, st["faults"]  # read back from faults.json at its start
    assert cli("converge", "--timeout", "3", ok=False).returncode == 1  # still cut
    cli("heal")
    cli("converge", "--timeout", "60")
    assert out(cli("read", "node-c", "cut")) == "1\n"

    # Killed, then healed at once (the proxy dead or restarting): heal waits it out.
    cli("partition", "node-a", "node-b,node-c")
    cli("write", "node-a", "cut2", "2")
    second = proxy_pid(c)
    os.kill(second, signal.SIGKILL)
    healed = cli("heal")
    assert "healed" in out(healed), healed.stderr.decode()
    assert "links: no faults" in out(cli("status"))
    wait_for(lambda: all_links_up(cli), 60, "every link up after heal")
    cli("converge", "--timeout", "60")
    assert out(cli("read", "node-b", "cut2")) == "2\n"
    assert proxy_pid(c) not in (0, first, second)


def test_a_proxy_that_is_stopped_is_named_with_the_fix(cli, tmp_path):  # noqa: F811
    cli("up", str(ROOT / "topology/pair.yaml"))
    cli("stop", "proxy")
    p = cli("heal", ok=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "the link proxy (process 'proxy', STOPPED)" in err, err
    assert "`cluster start proxy`" in err and "Traceback" not in err
    st = cli("status")  # the table still shows, with what is unknown and why
    assert st.returncode == 0 and "cluster start proxy" in out(st) and "RUNNING" in out(st)
    assert "started: control on" in out(cli("logs", "proxy"))
    cli("start", "proxy")
    cli("heal")
    wait_for(lambda: all_links_up(cli), 30, "every link up after the proxy started")


def nemesis(tmp_path: Path, *args: str) -> subprocess.Popen:
    argv = ["nemesis", "--seed", "3", "--duration", "120s", "--faults", "partition", *args]
    return spawn_cli(tmp_path, argv)


def test_down_during_a_nemesis_heals_first_and_up_brings_links_and_incarnations_back(
    cli,  # noqa: F811
    tmp_path,
):
    cli("up", MESH3)
    state = tmp_path / "home/mesh3"
    c = Cluster(state)
    incarnations = {n["name"]: n["replica_id"] for n in status(cli)["nodes"]}

    # `down` while the nemesis holds a partition: the nemesis heals, then down proceeds.
    run = nemesis(tmp_path)
    wait_for(lambda: (state / MARKER).exists() and c.faults(), 60, "the nemesis to cut links")
    down = cli("down")
    assert "cluster mesh3 down" in out(down), down.stderr.decode()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143 and "nemesis stopped by SIGTERM" in err, err
    assert json.loads((state / "faults.json").read_text())["faults"] == {}
    assert not (state / MARKER).exists()
    up = cli("up", MESH3)
    assert "links still cut" not in up.stderr.decode(), up.stderr.decode()
    assert all_links_up(cli)
    after = {n["name"]: n["replica_id"] for n in status(cli)["nodes"]}
    assert after == incarnations  # recovered from peers, no fresh incarnation

    # A nemesis SIGKILLed while links are cut cannot heal: `up` heals what it left.
    run = nemesis(tmp_path, "--seed", "4")
    wait_for(lambda: c.faults(), 60, "the nemesis to cut links")
    run.kill()
    run.communicate(timeout=30)
    wait_for(lambda: not pid_alive(run.pid), 10, "the nemesis to die")
    assert c.faults() and (state / MARKER).exists()
    cli("down")
    up = cli("up", MESH3)
    assert "healed the link faults nemesis seed 4" in up.stderr.decode(), up.stderr.decode()
    assert all_links_up(cli)
    after = {n["name"]: n["replica_id"] for n in status(cli)["nodes"]}
    assert after == incarnations
