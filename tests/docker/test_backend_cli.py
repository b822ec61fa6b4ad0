"""The Docker backend end to end through the real CLI: mesh3 as containers, every verb."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.wait import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
MESH3 = str(ROOT / "topology/mesh3.yaml")
NODES = ("node-a", "node-b", "node-c")


class Cli:
    """``cluster ...`` as a user runs it, against one home directory."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, "REMESH_HOME": str(home), **(env or {})}

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if ok and p.returncode != 0:
            raise AssertionError(
                f"cluster {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
            )
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self("--json", *args).stdout)

    def links_down(self, node: str, peers: list[str]) -> bool:
        row = next(r for r in self.json("status")["nodes"] if r["name"] == node)
        return all(not (row["links"] or {}).get(p, True) for p in peers)


def labelled(engine: Any, state_dir: Path) -> list[str]:
    """Every container, network and volume the backend made for ``state_dir``."""
    selector = {"label": f"remesh.state={state_dir}"}
    return [
        *(f"container {c.name}" for c in engine.containers.list(all=True, filters=selector)),
        *(f"network {n.name}" for n in engine.networks.list(filters=selector)),
        *(f"volume {v.name}" for v in engine.volumes.list(filters=selector)),
    ]


@pytest.fixture
def cli(tmp_path: Path, docker_engine: Any, node_image: Any) -> Iterator[Cli]:
    run = Cli(tmp_path / "home")
    yield run
    for name in os.listdir(run.home) if run.home.exists() else []:
        run("down", "--purge", "--cluster", name, ok=False)
    assert labelled(docker_engine, run.home / "mesh3") == [], "down --purge left objects"


def test_mesh3_on_docker_through_the_cli(cli: Cli, docker_engine: Any) -> None:
    up = cli("up", "--backend", "docker", MESH3)
    assert "on docker" in up.stdout, up.stdout
    status = cli.json("status")
    assert status["backend"] == "docker"
    ids = {r["name"]: r["ident"] for r in status["nodes"]}
    for node in NODES:  # the id status shows is the container's
        assert docker_engine.containers.get(ids[node]).labels["remesh.process"] == node
    assert "CONTAINER" in cli("status").stdout

    # Writes at every node converge.
    for i, node in enumerate(NODES):
        cli("write", node, f"k{i}", f"from-{node}")
    cli("converge", "--timeout", "60")
    for node in NODES:
        assert cli("read", node, "k2").stdout.strip() == "from-node-c"

    # Partitions hold and heal, blackhole and reset alike: each link through the proxy.
    for mode in ("blackhole", "reset"):
        cli("partition", "--mode", mode, "node-a", "node-b,node-c")
        wait_for(lambda: cli.links_down("node-a", ["node-b", "node-c"]), 30, f"{mode} cut")
        cli("write", "node-a", f"cut-{mode}", "1")
        assert cli("converge", "--timeout", "2", ok=False).returncode == 1  # held apart
        assert cli("read", "node-b", f"cut-{mode}", ok=False).returncode != 0
        cli("heal")
        cli("converge", "--timeout", "60")
        assert cli("read", "node-c", f"cut-{mode}").stdout.strip() == "1"

    # A paused container neither answers nor loses anything; resumed, it catches up.
    cli("pause", "node-c")
    assert "PAUSED" in cli("status").stdout
    wait_for(lambda: cli.links_down("node-a", ["node-c"]), 30, "node-a to see node-c frozen")
    cli("write", "node-a", "while-paused", "1")
    cli("resume", "node-c")
    cli("converge", "--timeout", "60")
    assert cli("read", "node-c", "while-paused").stdout.strip() == "1"
    assert "subscribed" in cli("logs", "node-a").stdout  # the container's own log
    assert "link node-a>node-b" in cli("logs", "proxy").stdout

    # down keeps the data (on the volumes) and up brings it back, same backend.
    state_dir = cli.home / "mesh3"
    cli("down")
    left = labelled(docker_engine, state_dir)
    assert left and all(x.startswith("volume ") for x in left), left
    cli("up", MESH3)  # no --backend: the cluster's data stays on the backend it was on
    assert cli.json("status")["backend"] == "docker"
    for node in NODES:
        assert cli("read", node, "while-paused").stdout.strip() == "1"

    cli("down", "--purge")
    assert labelled(docker_engine, state_dir) == []
    assert not state_dir.exists()


def test_kill_and_restart_keep_the_address_and_the_data(cli: Cli) -> None:
    cli("up", "--backend", "docker", MESH3)
    before = {r["name"]: r for r in cli.json("status")["nodes"]}
    cli("write", "node-b", "before-kill", "1")
    cli("kill", "node-b")
    row = next(r for r in cli.json("status")["nodes"] if r["name"] == "node-b")
    assert row["state"] == "EXITED", row
    cli("write", "node-a", "while-dead", "1")
    cli("start", "node-b")
    row = next(r for r in cli.json("status")["nodes"] if r["name"] == "node-b")
    assert row["address"] == before["node-b"]["address"], "published port changed"
    assert row["ident"] != before["node-b"]["ident"], "expected a new container"
    cli("restart", "node-c")
    cli("converge", "--timeout", "60")
    for node in NODES:
        assert cli("read", node, "before-kill").stdout.strip() == "1"
        assert cli("read", node, "while-dead").stdout.strip() == "1"


def test_no_engine_is_one_clear_error(tmp_path: Path) -> None:
    run = Cli(tmp_path / "home", {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    p = run("up", "--backend", "docker", MESH3, ok=False)
    assert p.returncode == 1, p
    assert "Traceback" not in p.stderr
    assert "no Docker engine" in p.stderr and "ci/dockerd start" in p.stderr, p.stderr


def test_bad_extra_labels_are_one_clear_error(tmp_path: Path, docker_engine: Any) -> None:
    run = Cli(tmp_path / "home", {"REMESH_DOCKER_LABELS": "not-a-label"})
    p = run("up", "--backend", "docker", MESH3, ok=False)
    assert (p.returncode, "Traceback" in p.stderr) == (1, False), p.stderr
    assert "REMESH_DOCKER_LABELS: expected comma-separated remesh.KEY=VALUE" in p.stderr
    assert labelled(docker_engine, run.home / "mesh3") == []
