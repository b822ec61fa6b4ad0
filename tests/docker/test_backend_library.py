"""The Docker backend through the library and the pytest fixture: crashes, the nemesis,
two clusters at once, and the label sweep after a lost state directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cluster.api import Cluster, ConvergeTimeout
from cluster.backends.docker.engine import Meta
from cluster.nemesis import DEFAULT_FAULTS, run_nemesis
from cluster.wait import wait_for
from tests.chaos.test_nemesis import assert_sound_run
from tests.docker.test_backend_cli import labelled
from tests.integration.workload import assert_lww, links_down, write_load

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
MESH3 = ROOT / "topology/mesh3.yaml"
TIMEOUT = 90
WATERMARKS = (
    "import json; from pathlib import Path; from node.storage.watermarks import Watermarks; "
    "print(json.dumps(Watermarks(Path('/data')).load()))"
)


def watermarks(engine: Any, c: Cluster, node: str) -> dict[str, int]:
    """What ``node`` checkpointed, read inside its container (its data is on a volume)."""
    container = engine.containers.get(Meta.load(c.dir, c.name).container(node))
    result = container.exec_run(["python", "-c", WATERMARKS])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_kill9_during_writes_catches_up_from_watermarks(
    remesh_cluster: Any, docker_engine: Any, node_image: Any
) -> None:
    c = remesh_cluster(MESH3, backend="docker")
    acked = write_load(c, ["node-a", "node-b"], per_node=300, keys=50, seed=8, batch=50)
    c.converge(TIMEOUT)
    st = c.node_status("node-c")
    want = {o: s for o, s in st.vv.items() if o != st.replica_id}

    def covered() -> bool:
        saved = watermarks(docker_engine, c, "node-c")
        return all(saved.get(o, 0) >= s for o, s in want.items())

    wait_for(covered, 30, lambda: f"node-c's watermarks to cover {want}")
    results: list[Any] = []
    stream = threading.Thread(
        target=lambda: results.append(
            write_load(c, ["node-a", "node-b"], per_node=1000, keys=50, seed=9, batch=50)
        )
    )
    stream.start()
    a_origin = c.node_status("node-a").replica_id
    wait_for(
        lambda: c.node_status("node-c").vv.get(a_origin, 0) > 400, 60, "node-c to be mid-stream"
    )
    c.kill("node-c")  # SIGKILL to the container while the others keep writing
    assert c.process_state("node-c") == "EXITED"
    stream.join()
    acked += results[0]
    c.start("node-c")
    st = c.node_status("node-c")
    recovered = sum(st.recovered_from.values())
    assert recovered >= 600, f"node-c loaded watermarks covering only {recovered} entries"
    c.converge(TIMEOUT)
    st = c.node_status("node-c")
    total = sum(st.vv.values())
    assert st.entries_received <= total - recovered, "it was sent more than it lacked"
    assert_lww(c, acked)  # nothing acknowledged was lost, at any node
    assert c.unexpected_log_lines() == []


def test_link_faults_keep_their_per_link_semantics(remesh_cluster: Any, node_image: Any) -> None:
    c = remesh_cluster(MESH3, backend="docker")
    for mode in ("blackhole", "reset"):
        c.partition([["node-a"], ["node-b", "node-c"]], mode=mode)
        wait_for(lambda: links_down(c, "node-a", ["node-b", "node-c"]), 30, f"{mode} cut")
        assert {f["mode"] for f in c.faults().values() if f["mode"] != "ok"} == {mode}
        acked = write_load(c, list(c.topology.names()), per_node=30, keys=10, seed=7)
        with pytest.raises(ConvergeTimeout):
            c.converge(2)  # held apart
        assert links_down(c, "node-b", ["node-a"]) and not links_down(c, "node-b", ["node-c"])
        c.heal()
        c.converge(TIMEOUT)
        assert_lww(c, acked)
    c.delay("node-a", "node-b", 150)  # one link, both ways; the others untouched
    delayed = {link for link, f in c.faults().items() if f.get("delay_ms")}
    assert delayed == {"node-a>node-b", "node-b>node-a"}, c.faults()
    c.write("node-a", b"delayed", b"1")
    c.converge(TIMEOUT)
    c.heal()


def test_nemesis_seed_on_docker(remesh_cluster: Any, node_image: Any, tmp_path: Path) -> None:
    c = remesh_cluster(MESH3, backend="docker")
    out = tmp_path / "out"
    s = run_nemesis(c, 404, 8.0, DEFAULT_FAULTS, out_dir=out, converge_timeout=TIMEOUT)
    assert_sound_run(c, s, set(DEFAULT_FAULTS), out)


def test_two_clusters_of_one_name_at_once_and_gc_after_a_lost_state_dir(
    tmp_path: Path, docker_engine: Any, node_image: Any
) -> None:
    homes = [tmp_path / "one", tmp_path / "two"]
    started: list[Cluster] = []
    try:
        with ThreadPoolExecutor(2) as pool:  # both up at the same time
            for c in pool.map(lambda h: Cluster.up(MESH3, home=h, backend="docker"), homes):
                started.append(c)
        one, two = started
        assert one.name == two.name == "mesh3"
        nets = [Meta.load(c.dir, c.name).network for c in started]
        assert nets[0] != nets[1], nets
        addresses = [{one.address(n) for n in one.topology.names()} for one in started]
        assert not addresses[0] & addresses[1], addresses
        one.write("node-a", b"only-in-one", b"1")
        one.converge(TIMEOUT)
        assert two.read("node-c", b"only-in-one") is None

        # The second cluster's state directory vanishes (a crashed, cleaned-up run):
        # `cluster gc` removes its containers, network and volumes, and nothing of the first.
        lost = two.dir
        started.remove(two)  # swept by gc below (or, should that fail, by the session)
        shutil.rmtree(lost)
        gc = subprocess.run(
            [sys.executable, "-m", "cluster.cli", "gc"], capture_output=True, text=True
        )
        assert gc.returncode == 0, gc.stderr
        assert labelled(docker_engine, lost) == [], gc.stdout
        assert "network " + nets[1] in gc.stdout, gc.stdout
        assert "network " + nets[0] not in gc.stdout, gc.stdout
        assert one.read("node-b", b"only-in-one") == b"1"
        assert len(labelled(docker_engine, one.dir)) == 4 + 1 + 4  # containers, net, volumes
    finally:
        for c in started:
            c.down(purge=True)


def test_tls_token_and_metrics_work_in_containers(remesh_cluster: Any, node_image: Any) -> None:
    """Secrets reach the containers (token always, certificates with ``tls``); a node's
    certificate names it, so peers reach it through the proxy alias; the metrics port
    is published and ``prometheus.yml`` names what this machine reaches."""
    c = remesh_cluster(MESH3, backend="docker", tls=True)
    assert c.tls
    for node in c.topology.names():
        c.write(node, b"tls/" + node.encode(), b"1")
    c.converge(TIMEOUT)
    assert len(c.scan("node-c", b"tls/")) == 3
    for node in c.topology.names():
        assert "remesh_node_info" in c.metrics(node), node
    scrape = (c.dir / "prometheus.yml").read_text()
    for node in c.topology.names():
        assert f"- {c.metrics_address(node)}" in scrape, (node, scrape)
