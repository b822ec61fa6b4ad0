"""A cluster's state directory and its ``cluster.json``: what ``up`` planned, verbs share.

Every verb is a separate process, so what one verb decides and another needs
lives in ``<home>/<name>/cluster.json`` (written atomically): the topology text
it was brought up from, each node's port, the link proxy's control and listen
addresses, and the nodes paused by ``pause`` (a SIGSTOPped process looks like a
running one to every supervisor). Ports are planned here: allocated once, kept
across ``down``/``up`` so the data comes back on the same addresses, and
swapped for free ones only when something else took them meanwhile.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cluster.backends.registry import DEFAULT
from cluster.errors import ClusterError
from cluster.faults.model import link_name
from cluster.files import atomic_write, private_dir
from cluster.home import LOCAL, pointer, user_home, why
from cluster.ports import bindable, free_ports
from cluster.statefile import read_state
from cluster.topology import Topology

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
TOPOLOGY_FILE = "topology.yaml"


# What marks a directory as a cluster's state, even one whose cluster.json was lost:
# ``down`` must still find it to stop what its processes' config paths point into.
MARKERS = (STATE_FILE, "supervisord.conf", "docker.json")


def cluster_names(home: Path) -> list[str]:
    """The clusters with a state directory under ``home``."""
    if not home.is_dir():
        return []
    return sorted(p.name for p in home.iterdir() if any((p / m).is_file() for m in MARKERS))


def find(name: str | None, home: Path) -> Path:
    """The state directory of cluster ``name`` (or of the only one) under ``home``."""
    names = cluster_names(home)
    if name is None:
        if len(names) == 1:
            name = names[0]
        elif not names:
            raise ClusterError(
                f"no cluster in {home} ({why(home)}){elsewhere(home)}: start one with "
                f"`cluster up FILE`, or {pointer()}"
            )
        else:
            raise ClusterError(
                f"several clusters in {home} ({', '.join(names)}): pick one with --cluster"
            )
    if name not in names:
        raise ClusterError(
            f"no cluster named {name!r} in {home} ({why(home)})"
            + (f"; there is {', '.join(names)}" if names else "")
            + f"{elsewhere(home)}; {pointer()}"
        )
    return home / name


def elsewhere(home: Path) -> str:
    """The clusters in the other places a verb would look, when ``home`` holds none."""
    env = os.environ.get("REMESH_HOME")
    others = [Path(env).absolute()] if env else []
    others += [Path(LOCAL).absolute(), user_home()]
    found = [
        f"{', '.join(cluster_names(o))} in {o}"
        for o in dict.fromkeys(others)
        if o != home and cluster_names(o)
    ]
    return f" (clusters elsewhere: {'; '.join(found)})" if found else ""


def restore_copy(state_dir: Path) -> Path:
    """``topology.yaml`` of a stored cluster written again from ``cluster.json`` (an edited
    copy hides nothing): what ``up`` without a file brings back."""
    path = state_dir / TOPOLOGY_FILE
    atomic_write(path, ClusterState.load(state_dir).topology_text)
    return path


class ClusterState:
    """``cluster.json`` in memory; ``save`` writes it back."""

    def __init__(self, state_dir: Path, data: dict[str, Any]) -> None:
        self.dir = state_dir
        self._data = data

    @classmethod
    def load(cls, state_dir: Path) -> ClusterState:
        """``DamagedState`` (naming the file and the way out) when it cannot be trusted."""
        return cls(state_dir, read_state(state_dir / STATE_FILE))

    @classmethod
    def for_up(
        cls,
        topo: Topology,
        path: Path,
        state_dir: Path,
        *,
        tls: bool | None = None,
        backend: str | None = None,
    ) -> ClusterState:
        """The state to bring ``topo`` (read from ``path``) up with, saved: the old one
        when the same topology comes back up (same data, same ports), else a fresh plan.
        ``tls``: True or False overrides the topology's ``tls`` (on unless it says
        ``tls: false``); a cluster once up with TLS stays so until purged or told
        ``tls=False`` (an ``up`` without the flag never silently downgrades it).
        ``backend`` runs it, else the one that ran it before, else the topology's: the
        data of one backend stays with it."""
        if (state_dir / STATE_FILE).exists():
            state = cls.load(state_dir)
            backend = backend or state.backend
            if state.topology_text != path.read_text():
                raise ClusterError(
                    f"{state_dir} holds data of a different topology named {topo.name}; "
                    f"`cluster down --purge --cluster {topo.name}` to start afresh"
                )
            if state.backend != backend:
                raise ClusterError(
                    f"cluster {topo.name} holds its data in the {state.backend} backend; "
                    f"`cluster up --backend {state.backend}`, or `cluster down --purge "
                    f"--cluster {topo.name}` to start afresh on {backend}"
                )
            state._keep_ports(topo)
        else:
            state = cls(state_dir, _plan(topo, path))
            state._data["backend"] = backend or topo.backend
        state._plan_metrics(recheck=True)
        state._data["paused"] = []
        # never downgraded by omission
        state._data["tls"] = tls if tls is not None else (topo.tls or state.tls)
        private_dir(state_dir)  # values, logs and configs are nobody else's to read
        atomic_write(state_dir / TOPOLOGY_FILE, state.topology_text)
        state.save()
        return state

    def save(self) -> None:
        atomic_write(self.dir / STATE_FILE, json.dumps(self._data, indent=2) + "\n")

    @property
    def name(self) -> str:
        return str(self._data["name"])

    @property
    def backend(self) -> str:
        """What runs the processes: a name in ``cluster.backends.registry``."""
        return str(self._data.get("backend", DEFAULT))

    @property
    def topology_text(self) -> str:
        return str(self._data["topology_text"])

    @property
    def nodes(self) -> list[str]:
        return list(self._data["nodes"])

    def port(self, node: str) -> int:
        return int(self._data["nodes"][node]["port"])

    def metrics_port(self, node: str) -> int | None:
        """Where ``node`` serves Prometheus metrics (None: a state from before metrics)."""
        port = self._data.get("metrics", {}).get(node)
        return int(port) if port else None

    @property
    def has_proxy(self) -> bool:
        return bool(self._data["proxy"])

    @property
    def proxy_control(self) -> str:
        return str(self._data["proxy"]["control"])

    @property
    def link_addresses(self) -> dict[str, str]:
        """Each directed link's proxy listen address ({} without proxies)."""
        return dict(self._data["proxy"]["links"]) if self._data["proxy"] else {}

    @property
    def tls(self) -> bool:
        """Mutual TLS between the nodes and for the tool (cluster.secrets)."""
        return bool(self._data.get("tls", False))

    @property
    def paused(self) -> list[str]:
        return list(self._data.get("paused", []))

    def reshape(self, topology_text: str, ports: dict[str, int], links: dict[str, str]) -> None:
        """New members (``cluster add``/``remove``): the topology as it is now, each node's
        port and each proxied link's listen address; saved with the stored topology file."""
        self._data["topology_text"] = topology_text
        self._data["nodes"] = {n: {"port": p} for n, p in ports.items()}
        if self._data["proxy"]:
            self._data["proxy"]["links"] = dict(links)
        self._data["paused"] = [n for n in self.paused if n in ports]
        self._plan_metrics(recheck=False)  # the members that stay keep theirs, in use
        atomic_write(self.dir / TOPOLOGY_FILE, topology_text)
        self.save()

    def set_paused(self, node: str, paused: bool) -> None:
        """Record ``node`` as paused or not; saved at once when it changes."""
        now = set(self.paused)
        if (node in now) != paused:
            self._data["paused"] = sorted(now ^ {node})
            self.save()

    def _keep_ports(self, topo: Topology) -> None:
        """The ports of a cluster brought back up: the old ones, except that an
        allocated port something else took while it was down is swapped for a
        free one (nodes learn every address from the configs rendered at up)."""
        fixed = {n.name for n in topo.nodes if n.port}
        nodes, proxy = self._data["nodes"], self._data["proxy"]
        # (where the port is kept, key there, address)
        places: list[tuple[dict[str, Any], str, str]] = [
            (v, "port", f"{HOST}:{v['port']}") for n, v in nodes.items() if n not in fixed
        ]
        if proxy:
            places.append((proxy, "control", proxy["control"]))
            places += [(proxy["links"], link, a) for link, a in proxy["links"].items()]
        ports = [(d, k, int(a.rsplit(":", 1)[1])) for d, k, a in places]
        stale = [(d, k) for d, k, port in ports if not bindable(port)]
        kept = {port for _, _, port in ports} | {n.port for n in topo.nodes if n.port}
        fresh = free_ports(len(stale), avoid=kept) if stale else []
        for (d, k), port in zip(stale, fresh, strict=True):
            d[k] = port if k == "port" else f"{HOST}:{port}"

    def _plan_metrics(self, recheck: bool) -> None:
        """A metrics port for every node without one (a new member, a cluster.json from
        before metrics); ``recheck`` (nothing runs): also swap those something else took."""
        metrics = {n: p for n, p in self._data.get("metrics", {}).items() if n in self.nodes}
        stale = [
            n for n in self.nodes if n not in metrics or (recheck and not bindable(metrics[n]))
        ]
        if stale:
            links = self.link_addresses.values()
            kept = {self.port(n) for n in self.nodes} | set(metrics.values())
            kept |= {int(a.rsplit(":", 1)[1]) for a in links}
            metrics.update(zip(stale, free_ports(len(stale), avoid=kept), strict=True))
        self._data["metrics"] = metrics


def _plan(topo: Topology, path: Path) -> dict[str, Any]:
    """A fresh cluster.json: free ports for every node without one, the proxy and each link."""
    names = topo.names()
    wanted = [n.port for n in topo.nodes if n.port]
    extra = len([n for n in topo.nodes if not n.port])
    links = topo.directed_links() if topo.proxies else []
    fresh = iter(free_ports(extra + len(links) + (1 if topo.proxies else 0), avoid=wanted))
    ports = {n.name: n.port or next(fresh) for n in topo.nodes}
    if len(set(ports.values())) != len(ports) or set(wanted) & set(ports.values()) - set(wanted):
        raise ClusterError(f"{path}: port clash between nodes")
    return {
        "name": topo.name,
        "source": str(path.absolute()),
        "topology_text": path.read_text(),
        "nodes": {n: {"port": ports[n]} for n in names},
        "proxy": {
            "control": f"{HOST}:{next(fresh)}",
            "links": {link_name(s, d): f"{HOST}:{next(fresh)}" for s, d in links},
        }
        if topo.proxies
        else None,
        "created": time.time(),
    }
