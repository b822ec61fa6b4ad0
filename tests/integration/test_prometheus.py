"""A real Prometheus scrapes a real cluster through the prometheus.yml `cluster up` wrote."""

from __future__ import annotations

import pytest

from cluster.wait import wait_for
from tests.integration.prom import Prometheus
from tests.integration.workload import links_down

pytestmark = [pytest.mark.integration, pytest.mark.needs("prometheus")]

NODES = ["node-a", "node-b", "node-c"]


@pytest.fixture
def prometheus_for(tmp_path):
    started: list[Prometheus] = []

    def start(cluster) -> Prometheus:
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        prom = Prometheus(cluster.dir / "prometheus.yml", workdir)
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()


def test_prometheus_scrapes_every_node_and_sees_lag_rise_in_a_partition_and_clear(
    clean_cluster, prometheus_for
):
    c = clean_cluster("mesh3")
    prom = prometheus_for(c)
    wait_for(
        lambda: prom.targets_up() == dict.fromkeys(NODES, "up"),
        60,
        lambda: f"every node's target up (now {prom.targets_up()}; log: {prom.log_tail()})",
    )
    info = prom.query("remesh_node_info")
    assert sorted(dict(k)["node"] for k in info) == NODES
    per_node = prom.query('count by (node) ({__name__=~"remesh_.+"})')
    assert sorted(dict(k)["node"] for k in per_node) == NODES
    assert all(n >= 20 for n in per_node.values()), per_node  # the whole table, each node

    lag_a = 'remesh_peer_lag_entries{node="node-a"}'
    c.partition([["node-a"], ["node-b", "node-c"]])
    wait_for(lambda: links_down(c, "node-a", ["node-b", "node-c"]), 20, "node-a cut off")
    c.write_batch("node-a", [(f"k{i}".encode(), b"v") for i in range(50)])

    def lag_seen() -> dict:
        lag = {dict(k)["peer"]: v for k, v in prom.query(lag_a).items()}
        return lag if lag.get("node-b", 0) >= 50 and lag.get("node-c", 0) >= 50 else {}

    wait_for(lag_seen, 60, lambda: f"node-a's lag for b and c >= 50 ({prom.query(lag_a)})")
    c.heal()
    c.converge(60)
    wait_for(
        lambda: (v := prom.query(lag_a)) and set(v.values()) == {0.0},
        60,
        lambda: f"node-a's lag back to 0 after heal ({prom.query(lag_a)})",
    )
    received = 'sum(remesh_peer_received_entries_total{node="node-b"})'
    wait_for(
        lambda: (v := prom.query(received)) and max(v.values()) >= 50,
        60,
        lambda: f"node-b's received entries counted ({prom.query(received)})",
    )
