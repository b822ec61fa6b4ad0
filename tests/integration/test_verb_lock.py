"""One lock per cluster: verbs that change members, processes or faults never interleave.

Through the real CLI, as three operators would type at once: `add`, `remove` and `add`
started together are refused ("busy: ...", exit 2) or, with --wait, serialised; either
way the state files, supervisord and the running processes agree afterwards, and no
process or directory is left that no state names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cluster.api import Cluster
from cluster.backends.procfs import processes_under
from cluster.backends.supervisor.conf import program_commands
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def spawn_cli(tmp_path: Path, argv: list[str]) -> subprocess.Popen:
    """`cluster ARGV` started in the background on the cluster home under ``tmp_path``."""
    return subprocess.Popen(
        [sys.executable, "-m", "cluster.cli", *argv],
        env={**os.environ, "REMESH_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def at_once(tmp_path: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [spawn_cli(tmp_path, argv) for argv in commands]
    done = []
    for p, argv in zip(procs, commands, strict=True):
        stdout, stderr = p.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(argv, p.returncode, stdout, stderr))
    return done


def assert_consistent(state: Path) -> list[str]:
    """cluster.json, topology.yaml, proxy.json, supervisord and /proc name the same nodes,
    each running; no node directory or process outside them. Returns the members."""
    data = json.loads((state / "cluster.json").read_text())
    members = sorted(data["nodes"])
    assert sorted(yaml.safe_load((state / "topology.yaml").read_text())["nodes"]) == members
    assert sorted(set(program_commands(state / "supervisord.conf")) - {"proxy"}) == members
    proxy_links = {link["name"] for link in json.loads((state / "proxy.json").read_text())["links"]}
    assert proxy_links == set(data["proxy"]["links"])
    assert {a.split(">")[0] for a in proxy_links} == set(members)
    assert sorted(p.name for p in (state / "nodes").iterdir()) == members
    c = Cluster(state)
    procs = c.processes()
    assert sorted(set(procs) - {"proxy"}) == members, procs
    assert all(p.state == "RUNNING" for p in procs.values()), procs
    configs = [
        a for args in processes_under(state).values() for a in args if a.endswith("node.yaml")
    ]
    assert sorted(Path(a).parent.name for a in configs) == members, configs
    return members


def test_concurrent_add_remove_add_are_refused_or_serialised_and_leave_one_state(cli, tmp_path):  # noqa: F811
    cli("up", str(ROOT / "topology/mesh3.yaml"))
    cli("write", "node-a", "before", "1")
    state = tmp_path / "home/mesh3"

    # Without --wait: whoever finds the cluster busy is refused at once and changes nothing.
    results = at_once(
        tmp_path,
        ["add", "node-d", "--timeout", "60"],
        ["remove", "node-b", "--timeout", "60"],
        ["add", "node-e", "--timeout", "60"],
    )
    for r in results:
        assert r.returncode in (0, 2), (r.args, r.returncode, r.stderr)
        if r.returncode == 2:
            assert "busy: " in r.stderr and " by pid " in r.stderr, r.stderr
            assert "--wait" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert any(r.returncode == 0 for r in results), [r.stderr for r in results]
    expected = {"node-a", "node-b", "node-c"}
    for r, (verb, node) in zip(
        results, [("add", "node-d"), ("remove", "node-b"), ("add", "node-e")], strict=True
    ):
        if r.returncode == 0:
            expected = expected | {node} if verb == "add" else expected - {node}
    assert assert_consistent(state) == sorted(expected)

    # With --wait: all three run, one after the other, each within its own timeout.
    survivor = sorted(expected - {"node-a"})[0]
    results = at_once(
        tmp_path,
        ["add", "node-x", "--wait", "--timeout", "90"],
        ["remove", survivor, "--wait", "--timeout", "90"],
        ["add", "node-y", "--wait", "--timeout", "90"],
    )
    assert all(r.returncode == 0 for r in results), [(r.args, r.stderr) for r in results]
    members = assert_consistent(state)
    assert members == sorted(expected - {survivor} | {"node-x", "node-y"})
    keys = sorted(p.stem for p in (state / "secrets/nodes").glob("*.key"))
    assert keys == members, keys  # a member that left takes its key and certificate along
    cli("converge", "--timeout", "60")
    assert out(cli("read", "node-y", "before")) == "1\n"


def test_a_busy_cluster_names_the_holder_and_wait_honours_its_timeout(cli, tmp_path):  # noqa: F811
    """A verb holding the lock (here this test, as `nemesis` would) refuses the others by
    name; `--wait --timeout 2` gives up after about 2 s, not a built-in 120."""
    from cluster.verblock import hold

    cli("up", str(ROOT / "topology/pair.yaml"))
    state = tmp_path / "home/pair"
    with hold(state, "add node-q"):
        for verb in (
            ["kill", "node-b"],
            ["heal"],
            ["skew", "node-a", "+5"],
            ["down"],
            ["partition", "node-a", "node-b"],
            ["remove", "node-b"],
        ):
            p = cli(*verb, ok=False)
            assert p.returncode == 2, (verb, p.stderr)
            assert f"busy: add node-q by pid {os.getpid()} since" in p.stderr.decode(), verb
        p = cli("remove", "node-b", "--wait", "--timeout", "2", ok=False)
        assert p.returncode == 2 and "still held after waiting 2s" in p.stderr.decode()
    assert [n["state"] for n in json.loads(out(cli("status", "--json")))["nodes"]] == [
        "RUNNING",
        "RUNNING",
    ]
