"""The Docker backend's ways out, through the real CLI: a damaged ``cluster.json`` does not
keep its containers running (``down`` finds them by their labels), and the link proxy's
container comes back from a crash by itself (its restart policy, its faults re-read from
``faults.json``), while one stopped with ``docker kill`` (a manual stop, which Docker's
restart policy leaves alone) is named by the verbs with the one that starts it."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from cluster.api import Cluster
from cluster.wait import wait_for
from tests.docker.test_backend_cli import Cli, cli, labelled  # noqa: F401 - the CLI fixture
from tests.integration.workload import links_down

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PAIR = str(ROOT / "topology/pair.yaml")


def proxy_container(engine: Any, state_dir: Path) -> Any:
    found = engine.containers.list(
        all=True, filters={"label": [f"remesh.state={state_dir}", "remesh.process=proxy"]}
    )
    assert len(found) == 1, found
    return found[0]


def test_down_of_a_damaged_cluster_json_removes_the_containers(
    cli: Cli,  # noqa: F811
    docker_engine: Any,
) -> None:
    cli("up", "--backend", "docker", PAIR)
    state = cli.home / "pair"
    running = [x for x in labelled(docker_engine, state) if x.startswith("container ")]
    assert len(running) == 3, running  # two nodes and the proxy
    (state / "cluster.json").write_text("")

    p = cli("status", ok=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert str(state / "cluster.json") in p.stderr and "down --purge" in p.stderr, p.stderr

    p = cli("down", ok=False)  # from what is left: docker.json and the labels
    assert p.returncode == 0, p.stderr
    left = labelled(docker_engine, state)
    assert left and all(x.startswith("volume ") for x in left), left  # data kept
    p = cli("down", "--purge", ok=False)
    assert p.returncode == 0, p.stderr
    assert labelled(docker_engine, state) == [] and not state.exists()


def test_a_crashed_proxy_container_comes_back_and_a_killed_one_is_named(
    cli: Cli,  # noqa: F811
    docker_engine: Any,
) -> None:
    cli("up", "--backend", "docker", PAIR)
    state = cli.home / "pair"
    c = Cluster.open(None, cli.home)
    cli("partition", "node-a", "node-b")
    wait_for(lambda: links_down(c, "node-a", ["node-b"]), 30, "the cut")

    # A crash (the process killed, not the container stopped): the restart policy brings it
    # back, the partition with it, and a verb needs no `start`.
    proxy = proxy_container(docker_engine, state)
    restarts = proxy.attrs["RestartCount"]
    os.kill(proxy.attrs["State"]["Pid"], signal.SIGKILL)  # the engine runs on this machine

    def restarted() -> bool:
        proxy.reload()
        return proxy.attrs["RestartCount"] > restarts and proxy.status == "running"

    wait_for(restarted, 60, "Docker to restart the crashed proxy container")
    cut = {k for k, f in c.faults().items() if f.get("mode", "ok") != "ok"}
    assert cut == {"node-a>node-b", "node-b>node-a"}, "the partition came back with it"
    cli("heal")
    c.write("node-a", b"after-crash", b"1")
    c.converge(60)

    # `docker kill` is a manual stop: Docker restarts nothing, and the verbs say what to do.
    proxy.kill()
    wait_for(lambda: c.process_state("proxy") == "EXITED", 30, "the killed proxy to show")
    p = cli("heal", ok=False)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "the link proxy (process 'proxy', EXITED)" in p.stderr, p.stderr
    assert "`cluster start proxy`" in p.stderr, p.stderr
    cli("start", "proxy")
    c.write("node-b", b"after-kill", b"1")
    c.converge(60)
    assert {c.read(n, b"after-kill") for n in ("node-a", "node-b")} == {b"1"}

