"""Pure: a topology and its state -> each node's config, the proxy's config, process specs.

Nodes learn every address from here: a node's peers are the proxy's listen
addresses for its outgoing links (or the peers' own addresses without proxies),
so faults need no node's cooperation. No process is started and nothing is
written until ``write`` (the only function here that touches the disk).

State directory layout: ``nodes/<node>/node.yaml`` and ``nodes/<node>/data/``,
``proxy.json`` and ``faults.json`` for the link proxy, ``secrets/`` for the token and
certificates (``cluster.secrets``; processes get them by path on their command line),
``prometheus.yml`` for a Prometheus to scrape the nodes.

A ``Placement`` says where processes find each other: all on this machine's loopback
(supervisord), or each in its own container on one network (Docker), where a node is
reached by its name, the proxy by ``PROXY_ALIAS``, and data and faults live on volumes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.backends.base import ProcessSpec
from cluster.backends.registry import traits
from cluster.faults.config import ProxyConfig
from cluster.faults.model import link_name, split_link
from cluster.files import atomic_write, private_dir
from cluster.prometheus import PROMETHEUS_FILE, scrape_config
from cluster.secrets import Paths, ensure, node_args, secrets_dir
from cluster.state import HOST, ClusterState
from cluster.topology import Topology

PROXY = "proxy"  # the link proxy's process name
PROXY_ALIAS = "remesh-proxy"  # the proxy's name on a cluster's container network
ENV = {"PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Placement:
    """Addresses and paths as the processes see them."""

    bind: str  # the host every process listens on
    proxy_host: str  # where nodes reach the link proxy
    by_name: bool  # True: a node is reached by its name (a network alias), else at ``bind``
    data_dir: str  # a node's data directory (relative: to its directory in the state dir)
    faults_file: str | None  # the proxy's faults file; None: faults.json in the state dir

    def node_host(self, node: str) -> str:
        return node if self.by_name else self.bind

    def listen(self, address: str) -> str:
        """A planned ``host:port`` as the process listening on it binds it."""
        return f"{self.bind}:{address.rsplit(':', 1)[1]}"

    def via_proxy(self, address: str) -> str:
        """A planned proxy ``host:port`` as nodes dial it."""
        return f"{self.proxy_host}:{address.rsplit(':', 1)[1]}"


LOCAL = Placement(HOST, HOST, False, "data", None)
CONTAINERS = Placement("0.0.0.0", PROXY_ALIAS, True, "/data", "/data/faults.json")


def placement(backend: str) -> Placement:
    return CONTAINERS if traits(backend).placement == "containers" else LOCAL


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


def render(topo: Topology, state: ClusterState, python: str = sys.executable) -> Rendered:
    at = placement(state.backend)
    links = state.link_addresses
    proxy = None
    specs: list[ProcessSpec] = []
    if state.has_proxy:
        proxy = ProxyConfig.from_dict(
            {
                "control": at.listen(state.proxy_control),
                "faults_file": at.faults_file or str(state.dir / "faults.json"),
                "token_file": str(Paths(secrets_dir(state.dir)).token),
                "links": [
                    {
                        "name": name,
                        "listen": at.listen(listen),
                        "target": f"{at.node_host(dst)}:{state.port(dst)}",
                    }
                    for name, listen in links.items()
                    for dst in [split_link(name)[1]]
                ],
            }
        )
        command = [python, "-m", "cluster.faults.proxy", "--config", str(state.dir / "proxy.json")]
        port = int(state.proxy_control.rsplit(":", 1)[1])
        specs.append(
            ProcessSpec(
                PROXY, command, env=ENV, first=True, ports=(port,), alias=PROXY_ALIAS, restart=True
            )
        )
    configs: dict[str, dict[str, Any]] = {}
    for spec in topo.nodes:
        configs[spec.name] = {
            "node_id": spec.name,
            "cluster": topo.name,
            "tenant": topo.tenant,
            "listen": f"{at.bind}:{state.port(spec.name)}",
            **_metrics_listen(state.metrics_port(spec.name), at.bind),
            "data_dir": at.data_dir,
            "peers": {
                p: at.via_proxy(links[link_name(spec.name, p)])
                if proxy
                else f"{at.node_host(p)}:{state.port(p)}"
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
                ports=_ports(state.port(spec.name), state.metrics_port(spec.name)),
            )
        )
    return Rendered(configs, proxy, specs, topo.name, state.tls)


def _ports(*ports: int | None) -> tuple[int, ...]:
    """The ports a process listens on (a backend publishes them: containers)."""
    return tuple(p for p in ports if p)


def _metrics_listen(port: int | None, host: str) -> dict[str, str]:
    return {"metrics_listen": f"{host}:{port}"} if port else {}


def write(rendered: Rendered, state_dir: Path) -> list[str]:
    """Write every node's node.yaml (creating its directory), the proxy's config,
    ``prometheus.yml`` (a scrape config for every node that serves metrics) and the
    secrets that are missing (the token; with TLS the CA and each node's certificate).
    Returns what was reissued and why (``cluster.secrets.ensure``)."""
    notes: list[str] = []
    ensure(state_dir, rendered.cluster, list(rendered.node_configs), rendered.tls, notes)
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
    return notes
