"""Pure: a topology and its state -> each node's config, the proxy's config, process specs.

Nodes learn every address from here: a node's peers are the proxy's listen
addresses for its outgoing links (or the peers' own addresses without proxies),
so faults need no node's cooperation. No process is started and nothing is
written until ``write`` (the only function here that touches the disk).

State directory layout: ``nodes/<node>/node.yaml`` and ``nodes/<node>/data/``,
``proxy.json`` and ``faults.json`` for the link proxy, ``secrets/`` for the token and
certificates (``cluster.secrets``; processes get them by path on their command line).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.backends.base import ProcessSpec
from cluster.faults.config import ProxyConfig
from cluster.faults.model import link_name, split_link
from cluster.files import atomic_write, private_dir
from cluster.prometheus import PROMETHEUS_FILE, scrape_config
from cluster.secrets import Paths, ensure, node_args, secrets_dir
from cluster.state import HOST, ClusterState
from cluster.topology import Topology

PROXY = "proxy"  # the link proxy's process name
ENV = {"PYTHONUNBUFFERED": "1"}


def node_config_path(state_dir: Path, node: str) -> Path:
    return state_dir / "nodes" / node / "node.yaml"


@dataclass(frozen=True)
class Rendered:
    """What a cluster runs: node configs (node.yaml contents), the proxy's config, processes."""

    node_configs: dict[str, dict[str, Any]]
    proxy: ProxyConfig | None
    specs: list[ProcessSpec]
    cluster: str = ""
    tls: bool = False


def render(
    topo: Topology, state: ClusterState, python: str = sys.executable, host: str = HOST
) -> Rendered:
    links = state.link_addresses
    proxy = None
    specs: list[ProcessSpec] = []
    if state.has_proxy:
        proxy = ProxyConfig.from_dict(
            {
                "control": state.proxy_control,
                "faults_file": str(state.dir / "faults.json"),
                "token_file": str(Paths(secrets_dir(state.dir)).token),
                "links": [
                    {
                        "name": name,
                        "listen": listen,
                        "target": f"{host}:{state.port(split_link(name)[1])}",
                    }
                    for name, listen in links.items()
                ],
            }
        )
        command = [python, "-m", "cluster.faults.proxy", "--config", str(state.dir / "proxy.json")]
        specs.append(ProcessSpec(PROXY, command, env=ENV, first=True))
    configs: dict[str, dict[str, Any]] = {}
    for spec in topo.nodes:
        configs[spec.name] = {
            "node_id": spec.name,
            "cluster": topo.name,
            "tenant": topo.tenant,
            "listen": f"{host}:{state.port(spec.name)}",
            **_metrics_listen(state.metrics_port(spec.name), host),
            "data_dir": "data",
            "peers": {
                p: links[link_name(spec.name, p)] if proxy else f"{host}:{state.port(p)}"
                for p in topo.peers(spec.name)
            },
            **spec.settings.model_dump(),
        }
        path = node_config_path(state.dir, spec.name)
        specs.append(
            ProcessSpec(
                spec.name,
                [
                    python,
                    "-m",
                    "node",
                    "--config",
                    str(path),
                    *node_args(state.dir, spec.name, state.tls),
                ],
                directory=str(path.parent),
                env=ENV,
            )
        )
    return Rendered(configs, proxy, specs, topo.name, state.tls)


def _metrics_listen(port: int | None, host: str) -> dict[str, str]:
    return {"metrics_listen": f"{host}:{port}"} if port else {}


def write(rendered: Rendered, state_dir: Path) -> None:
    """Write every node's node.yaml (creating its directory), the proxy's config,
    ``prometheus.yml`` (a scrape config for every node that serves metrics) and the
    secrets that are missing (the token; with TLS the CA and each node's certificate)."""
    ensure(state_dir, rendered.cluster, list(rendered.node_configs), rendered.tls)
    for name, config in rendered.node_configs.items():
        path = node_config_path(state_dir, name)
        private_dir(path.parent.parent)  # nodes/
        private_dir(path.parent)
        atomic_write(path, yaml.safe_dump(config, sort_keys=False))
    if rendered.proxy is not None:
        rendered.proxy.write(state_dir / "proxy.json")
    targets = {
        n: c["metrics_listen"] for n, c in rendered.node_configs.items() if "metrics_listen" in c
    }
    cluster = next((c["cluster"] for c in rendered.node_configs.values()), "")
    atomic_write(state_dir / PROMETHEUS_FILE, scrape_config(cluster, targets))
