"""Damaged state files never block the way out: one line naming the file and the fix for
every verb, and ``down``/``down --purge`` stop what runs from whatever is left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.backends.procfs import pid_alive, processes_under
from cluster.wait import wait_for
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAIR = str(ROOT / "topology/pair.yaml")


def one_line_error(p, *words: str) -> str:
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    return err


@pytest.mark.parametrize(
    "text, what",
    [
        ("", "empty"),
        ('{"name": ', "not JSON"),
        ("[]", "JSON object"),
        ("{}", "'name' missing"),
        ('{"name": "pair", "topology_text": "x", "nodes": {"a": 1}}', "nodes.a"),
    ],
    ids=["empty", "truncated", "list", "object", "wrong-types"],
)
def test_a_damaged_cluster_json_is_one_line_for_every_verb_and_down_purge_stops_it(
    cli,  # noqa: F811
    tmp_path,
    text,
    what,
):
    cli("up", PAIR)
    state = tmp_path / "home/pair"
    pids = Cluster(state).pids()
    assert len(pids) == 4  # supervisord, the proxy, two nodes
    (state / "cluster.json").write_text(text)
    for verb in (
        ["status"],
        ["write", "node-a", "k", "v"],
        ["kill", "node-a"],
        ["add", "node-c"],
        ["heal"],
        ["converge"],
        ["up", PAIR],
    ):
        one_line_error(
            cli(*verb, ok=False),
            str(state / "cluster.json"),
            what,
            "cluster down --purge --cluster pair",
        )
    listed = cli("list")
    assert "pair" in out(listed) and "damaged" in out(listed), out(listed)
    assert all(pid_alive(p) for p in pids)  # nothing was stopped by a refusal

    p = cli("down", "--purge")
    assert "cluster pair down and purged" in out(p), p.stderr.decode()
    assert not any(pid_alive(p) for p in pids), "down --purge left processes running"
    assert not state.exists()


def test_down_without_cluster_json_finds_the_processes_by_their_config_paths(cli, tmp_path):  # noqa: F811
    """Even the file gone (and supervisord killed): the processes name files in the state
    directory on their command lines, so `down` finds and stops them."""
    import os
    import signal

    cli("up", PAIR)
    state = tmp_path / "home/pair"
    c = Cluster(state)
    pids, daemon = c.pids(), c.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    wait_for(lambda: not c.is_up(), 10, "supervisord to die")
    # What is true and what to do: the nodes serve (converge says so), members cannot change.
    assert "converged in" in out(cli("converge", "--timeout", "30"))
    p = cli("add", "node-c", ok=False)
    err = p.stderr.decode()
    assert p.returncode == 2 and "supervisord of cluster pair is not running, but its" in err
    (state / "cluster.json").unlink()
    assert "pair" in out(cli("list"))
    cli("down", "--cluster", "pair")
    assert not any(pid_alive(p) for p in pids) and not processes_under(state)
    cli("down", "--purge", "--cluster", "pair")
    assert not state.exists()


def test_topology_yaml_damaged_or_edited_never_hides_or_keeps_a_node(cli, tmp_path):  # noqa: F811
    cli("up", PAIR)
    cli("up", str(ROOT / "topology/mesh3.yaml"))
    home = tmp_path / "home"

    # Edited to drop node-c: the cluster runs as cluster.json records; status says both.
    stored = home / "mesh3/topology.yaml"
    original = stored.read_text()
    stored.write_text(original.replace("node-a, node-b, node-c", "node-a, node-b"))
    st = cli("status", "--cluster", "mesh3")
    assert "node-c" in out(st) and out(st).count("RUNNING") == 3, out(st)
    assert "differs from the topology in cluster.json" in st.stderr.decode()
    nodes = json.loads(out(cli("status", "--cluster", "mesh3", "--json")))["nodes"]
    assert [n["name"] for n in nodes] == ["node-a", "node-b", "node-c"]

    # Damaged: one line for every verb of that cluster; the other cluster is untouched.
    bad = home / "pair/topology.yaml"
    bad.write_text("nodes: [")
    for verb in (["status"], ["write", "node-a", "k", "v"], ["partition", "node-a", "node-b"]):
        one_line_error(cli(*verb, "--cluster", "pair", ok=False), str(bad), "cluster down")
    listed = out(cli("list"))
    assert "mesh3                up" in listed and "damaged" in listed, listed
    cli("down", "--cluster", "pair")
    assert not processes_under(home / "pair")
    cli("up", PAIR)  # writes the copy again from cluster.json
    assert bad.read_text() == Path(PAIR).read_text()
    cli("write", "node-a", "k", "v", "--cluster", "pair")
