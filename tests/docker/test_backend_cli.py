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

from cluster.api import Cluster, ConvergeTimeout
from cluster.wait import wait_for
from tests.integration.workload import links_down

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
    """Each verb once through the CLI (a process each, as a user runs them); the test
    checks through the library, in-process, where it waits on a condition."""
    up = cli("up", "--backend", "docker", MESH3)
    assert "on docker" in up.stdout and "CONTAINER" in up.stdout, up.stdout
    c = Cluster.open(None, cli.home)
    status = cli.json("status")
    assert status["backend"] == "docker"
    ids = {r["name"]: r["ident"] for r in status["nodes"]}
    for node in NODES:  # the id status shows is the container's
        assert docker_engine.containers.get(ids[node]).labels["remesh.process"] == node

    # Writes at every node converge.
    for i, node in enumerate(NODES):
        cli("write", node, f"k{i}", f"from-{node}")
    cli("converge", "--timeout", "60")
    assert cli("read", "node-a", "k2").stdout.strip() == "from-node-c"
    assert {c.read(n, b"k0") for n in NODES} == {b"from-node-a"}

    # A partition through the proxy container holds, then heals.
    cli("partition", "node-a", "node-b,node-c")
    wait_for(lambda: links_down(c, "node-a", ["node-b", "node-c"]), 30, "the cut")
    c.write("node-a", b"cut", b"1")
    with pytest.raises(ConvergeTimeout):
        c.converge(2)
    assert c.read("node-b", b"cut") is None
    cli("heal")
    c.converge(60)

    # A paused container, then a killed one: nothing lost, the address kept.
    cli("pause", "node-c")
    assert Cluster.open(None, cli.home).process_state("node-c") == "PAUSED"
    wait_for(lambda: links_down(c, "node-a", ["node-c"]), 30, "node-a to see node-c frozen")
    c.write("node-a", b"while-paused", b"1")
    cli("resume", "node-c")
    address = c.address("node-b")
    cli("kill", "node-b")
    assert c.process_state("node-b") == "EXITED"
    c.write("node-a", b"while-dead", b"1")
    cli("start", "node-b")
    assert Cluster.open(None, cli.home).address("node-b") == address, "published port moved"
    c.converge(60)
    assert c.read("node-c", b"while-paused") == c.read("node-b", b"while-dead") == b"1"
    assert "subscribed" in cli("logs", "node-a").stdout  # the container's own log
    assert "link node-a>node-b" in c.tail("proxy", 200)

    # down keeps the data (on the volumes) and up brings it back, same backend.
    state_dir = cli.home / "mesh3"
    cli("down")
    left = labelled(docker_engine, state_dir)
    assert left and all(x.startswith("volume ") for x in left), left
    cli("up", MESH3)  # no --backend: the cluster's data stays on the backend it was on
    c = Cluster.open(None, cli.home)
    assert c.backend == "docker"
    assert {c.read(n, b"while-dead") for n in NODES} == {b"1"}

    cli("down", "--purge")
    assert labelled(docker_engine, state_dir) == []
    assert not state_dir.exists()


def test_image_build_is_a_no_op_when_the_image_is_there(tmp_path: Path, node_image: Any) -> None:
    p = Cli(tmp_path / "home")("image", "build")
    assert p.stdout.startswith(f"{node_image.tag} up to date"), p.stdout


@pytest.mark.parametrize("argv", [["up", "--backend", "docker", MESH3], ["image", "build"]])
def test_no_engine_is_one_clear_error(tmp_path: Path, argv: list[str]) -> None:
    run = Cli(tmp_path / "home", {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    p = run(*argv, ok=False)
    assert p.returncode == 1, p
    assert "Traceback" not in p.stderr
    assert "no Docker engine" in p.stderr and "ci/dockerd start" in p.stderr, p.stderr


def test_bad_extra_labels_are_one_clear_error(tmp_path: Path, docker_engine: Any) -> None:
    run = Cli(tmp_path / "home", {"REMESH_DOCKER_LABELS": "not-a-label"})
    p = run("up", "--backend", "docker", MESH3, ok=False)
    assert (p.returncode, "Traceback" in p.stderr) == (1, False), p.stderr
    assert "REMESH_DOCKER_LABELS: expected comma-separated remesh.KEY=VALUE" in p.stderr
    assert labelled(docker_engine, run.home / "mesh3") == []
