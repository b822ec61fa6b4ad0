"""Rendering is pure: topology + state -> node configs, the proxy's config, process specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.render import PROXY, node_config_path, render, write
from cluster.state import ClusterState
from cluster.topology import parse_topology
from node.config import ConfigError, NodeConfig, load_config

pytestmark = pytest.mark.unit

MESH3 = (
    "name: m\nsettings: {durability: sync}\nnodes: [a, b, {name: c, settings: {linger_ms: 0}}]\n"
)


def state(tmp_path: Path, proxies: bool = True) -> ClusterState:
    data: dict[str, Any] = {
        "name": "m",
        "nodes": {"a": {"port": 20001}, "b": {"port": 20002}, "c": {"port": 20003}},
        "proxy": None,
        "paused": [],
    }
    if proxies:
        links = [f"{s}>{d}" for s in "abc" for d in "abc" if s != d]
        data["proxy"] = {
            "control": "127.0.0.1:21000",
            "links": {name: f"127.0.0.1:{21001 + i}" for i, name in enumerate(links)},
        }
    return ClusterState(tmp_path, data)


def test_peers_dial_the_proxy_and_the_proxy_forwards_to_the_peer(tmp_path: Path) -> None:
    st = state(tmp_path)
    out = render(parse_topology(MESH3, "t.yaml"), st, python="py")
    a = out.node_configs["a"]
    assert a["listen"] == "127.0.0.1:20001"
    assert a["peers"] == {"b": st.link_addresses["a>b"], "c": st.link_addresses["a>c"]}
    assert out.proxy is not None
    link = {spec.name: spec for spec in out.proxy.links}["a>b"]
    assert (link.listen, link.target) == (st.link_addresses["a>b"], "127.0.0.1:20002")
    assert out.proxy.faults_file == tmp_path / "faults.json"


def test_settings_are_merged_per_node(tmp_path: Path) -> None:
    out = render(parse_topology(MESH3, "t.yaml"), state(tmp_path), python="py")
    assert out.node_configs["a"]["durability"] == out.node_configs["c"]["durability"] == "sync"
    assert (out.node_configs["a"]["linger_ms"], out.node_configs["c"]["linger_ms"]) == (1.0, 0)


def test_process_specs_start_the_proxy_first(tmp_path: Path) -> None:
    out = render(parse_topology(MESH3, "t.yaml"), state(tmp_path), python="py")
    assert [s.name for s in out.specs] == [PROXY, "a", "b", "c"]
    proxy, a = out.specs[0], out.specs[1]
    assert proxy.first and not a.first
    assert proxy.command == [
        "py",
        "-m",
        "cluster.faults.proxy",
        "--config",
        f"{tmp_path}/proxy.json",
    ]
    config, token = str(node_config_path(tmp_path, "a")), f"{tmp_path}/secrets/token"
    assert a.command == ["py", "-m", "node", "--config", config, "--token-file", token]
    assert a.directory == str(tmp_path / "nodes" / "a")


def test_without_proxies_peers_dial_each_other(tmp_path: Path) -> None:
    topo = parse_topology("name: m\nproxies: false\nlinks: line\nnodes: [a, b, c]\n", "t.yaml")
    out = render(topo, state(tmp_path, proxies=False), python="py")
    assert out.proxy is None and [s.name for s in out.specs] == ["a", "b", "c"]
    assert out.node_configs["b"]["peers"] == {"a": "127.0.0.1:20001", "c": "127.0.0.1:20003"}


def test_a_rendered_config_is_a_valid_node_config(tmp_path: Path) -> None:
    out = render(parse_topology(MESH3, "t.yaml"), state(tmp_path), python="py")
    write(out, tmp_path)
    cfg = load_config(node_config_path(tmp_path, "c"))
    assert isinstance(cfg, NodeConfig)
    assert (cfg.node_id, cfg.cluster, cfg.durability, cfg.linger_ms) == ("c", "m", "sync", 0)
    assert cfg.data_dir == tmp_path / "nodes" / "c" / "data"
    assert (tmp_path / "proxy.json").is_file()


def test_each_node_serves_metrics_on_its_port_and_prometheus_yml_scrapes_them(tmp_path):
    st = state(tmp_path)
    st._data["metrics"] = {"a": 22001, "b": 22002, "c": 22003}
    out = render(parse_topology(MESH3, "t.yaml"), st, python="py")
    assert out.node_configs["b"]["metrics_listen"] == "127.0.0.1:22002"
    write(out, tmp_path)
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "remesh-m"
    assert [(s["targets"], s["labels"]) for s in job["static_configs"]] == [
        (["127.0.0.1:22001"], {"node": "a", "cluster": "m"}),
        (["127.0.0.1:22002"], {"node": "b", "cluster": "m"}),
        (["127.0.0.1:22003"], {"node": "c", "cluster": "m"}),
    ]
    assert load_config(node_config_path(tmp_path, "a")).metrics_listen == "127.0.0.1:22001"


def test_a_state_from_before_metrics_renders_nodes_without_them(tmp_path):
    out = render(parse_topology(MESH3, "t.yaml"), state(tmp_path), python="py")
    assert "metrics_listen" not in out.node_configs["a"]


def test_a_node_config_refuses_a_bad_metrics_address(tmp_path):
    with pytest.raises(ConfigError, match="metrics_listen: expected host:port, got 'nowhere'"):
        NodeConfig(node_id="a", data_dir=tmp_path, metrics_listen="nowhere").validate()
