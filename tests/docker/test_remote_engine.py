"""The remote-engine path: ``DOCKER_HOST=tcp://...`` runs the same cluster unchanged.

The engine CI starts also listens on a loopback TCP port (ci/test passes
``REMESH_DOCKERD_ARGS`` to ci/dockerd and names the port in ``REMESH_DOCKER_TCP``); the CLI
then reaches the engine, and every published port, over TCP as it would another machine's.
Without that listener the test fails and says how to get one: it never skips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cluster.api import Cluster
from cluster.backends.docker.image import ImageError, docker_client
from cluster.wait import wait_for
from tests.docker.test_backend_cli import MESH3, NODES, Cli, labelled
from tests.integration.workload import links_down

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

HOW = (
    "start the engine with a loopback TCP listener and name it, as ci/test does: "
    "REMESH_DOCKER_TCP=tcp://127.0.0.1:2375 REMESH_DOCKERD_ARGS='-H unix:///var/run/docker.sock "
    "-H tcp://127.0.0.1:2375' ci/dockerd start (an engine already running without it must be "
    "stopped first)"
)


@pytest.fixture
def tcp_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    url = os.environ.get("REMESH_DOCKER_TCP", "")
    if not url.startswith("tcp://127.0.0.1:"):
        pytest.fail(f"REMESH_DOCKER_TCP is {url!r}, not tcp://127.0.0.1:PORT: {HOW}", pytrace=False)
    monkeypatch.setenv("DOCKER_HOST", url)
    problem = ""
    try:
        docker_client().close()
    except ImageError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"no engine answers at {url} ({problem}): {HOW}", pytrace=False)
    return url


def test_cluster_on_an_engine_reached_over_tcp(
    tcp_engine: str, docker_engine: Any, node_image: Any, tmp_path: Path
) -> None:
    """The CLI and the library (this process's DOCKER_HOST is the TCP one too)."""
    cli = Cli(tmp_path / "home", {"DOCKER_HOST": tcp_engine})
    try:
        cli("up", "--backend", "docker", MESH3)
        c = Cluster.open(None, cli.home)
        assert all(c.address(n).startswith("127.0.0.1:") for n in NODES)
        for node in NODES:
            c.write(node, node.encode(), b"remote")
        cli("partition", "node-a", "node-b,node-c")  # the proxy's control port over TCP too
        wait_for(lambda: links_down(c, "node-a", ["node-b", "node-c"]), 30, "the cut")
        cli("heal")
        c.converge(60)
        assert c.read("node-a", b"node-c") == b"remote"
    finally:
        cli("down", "--purge", ok=False)
    assert labelled(docker_engine, tmp_path / "home" / "mesh3") == []
