"""Pure membership plans: a topology with a node added or removed, the ports the new shape
needs, the changes ``up`` of an edited file makes, and what a leaving node's peers still lack.

The stored topology (``topology.yaml`` in the state directory) is edited as YAML data and
validated again by ``cluster.topology``, so every later verb reads the cluster as it is now.
A node added without ``--links`` takes its place in the shape: every node in a full mesh,
the hub in a star, the end of a line, between the last and the first node in a ring.
``--links`` (and any add to a topology with explicit links) makes the links explicit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import ClusterError
from cluster.faults.model import link_name
from cluster.generated import parse_generated
from cluster.reach import islands
from cluster.topology import RESERVED_NAMES, Topology, load_topology
from node.settings import NAME_RE, NAME_RULE

FreePorts = Callable[[int, Iterable[int]], list[int]]  # (how many, ports to avoid)


def _load(text: str) -> dict[str, Any]:
    raw = yaml.safe_load(text)
    assert isinstance(raw, dict), "the stored topology was validated at up"
    return raw


def _entry_name(entry: Any) -> str:
    return entry if isinstance(entry, str) else str(entry["name"])


def _dump(raw: dict[str, Any], source: str) -> tuple[str, Topology]:
    text = yaml.safe_dump(raw, sort_keys=False)
    return text, parse_generated(text, source)


def with_node(
    topo: Topology, text: str, node: str, links: Sequence[str] | None
) -> tuple[str, Topology]:
    """``text`` (the stored topology ``topo``) with ``node`` added, linked per the shape or
    to ``links``; ClusterError (nothing changed) for a bad name or unknown links."""
    if not NAME_RE.match(node):
        raise ClusterError(f"bad node name {node!r}: expected {NAME_RULE}")
    if node in RESERVED_NAMES:
        raise ClusterError(f"'{node}' is the link proxy's name: pick another node name")
    names = topo.names()
    if node in names:
        raise ClusterError(
            f"{node} is already in cluster {topo.name}; add another name, "
            f"or `cluster remove {node}` first"
        )
    raw = _load(text)
    raw["nodes"] = list(raw["nodes"]) + [node]
    if links is not None:
        unknown = sorted(set(links) - set(names))
        if unknown or not links:
            what = f"unknown node(s) {', '.join(unknown)}" if unknown else "no node"
            raise ClusterError(
                f"--links names {what}; expected a comma list of nodes of cluster "
                f"{topo.name}: {', '.join(names)}"
            )
        if topo.shape != "full-mesh" or set(links) != set(names):
            raw.pop("hub", None)
            raw["links"] = [list(p) for p in topo.links] + [[peer, node] for peer in links]
    elif topo.shape == "explicit":
        raise ClusterError(
            f"cluster {topo.name} lists its links: say which nodes {node} links to with "
            f"--links, e.g. --links {names[0]}"
        )
    return _dump(raw, f"{topo.source} with {node} added")


def without_node(topo: Topology, text: str, node: str) -> tuple[str, Topology]:
    """``text`` with ``node`` and its links gone; ClusterError when it is unknown, the last
    node, a star's hub, or the only way between other nodes."""
    names = topo.names()
    if node not in names:
        raise ClusterError(f"no node {node!r} in cluster {topo.name} (nodes: {', '.join(names)})")
    if names == [node]:
        raise ClusterError(
            f"{node} is the last node of cluster {topo.name}; `cluster down --purge` removes "
            "the whole cluster"
        )
    raw = _load(text)
    raw["nodes"] = [e for e in raw["nodes"] if _entry_name(e) != node]
    if topo.shape == "star" and (raw.get("hub") or names[0]) == node:
        raise ClusterError(f"{node} is the hub of the star; remove another node")
    if topo.shape == "explicit":
        raw["links"] = [list(p) for p in topo.links if node not in p]
    rest = [n for n in names if n != node]
    pairs = [(a, b) for a, b in topo.links if node not in (a, b)]
    apart = [n for g in islands(rest, pairs)[1:] for n in g] if topo.shape == "explicit" else []
    if apart:  # the topology's own check would refuse the islands; say what to do here
        raise ClusterError(
            f"removing {node} would cut {', '.join(apart)} off from the other nodes; "
            f"add a link first (`cluster add` with --links) or remove those too"
        )
    text, new = _dump(raw, f"{topo.source} without {node}")
    return text, new


@dataclass(frozen=True)
class Ports:
    nodes: dict[str, int]  # node -> port
    links: dict[str, str]  # directed link -> the proxy's listen address ({} without proxies)


def plan_ports(topo: Topology, now: Ports, host: str, free: FreePorts) -> Ports:
    """Ports for ``topo``: kept where a node or link stays, free ones for new nodes and links."""
    taken = set(now.nodes.values()) | {int(a.rsplit(":", 1)[1]) for a in now.links.values()}
    taken |= {n.port for n in topo.nodes if n.port}
    new_nodes = [n.name for n in topo.nodes if n.name not in now.nodes and not n.port]
    directed = [link_name(s, d) for s, d in topo.directed_links()] if topo.proxies else []
    new_links = [lk for lk in directed if lk not in now.links]
    fresh = iter(free(len(new_nodes) + len(new_links), taken))
    nodes = {n.name: now.nodes.get(n.name) or n.port or next(fresh) for n in topo.nodes}
    links = {lk: now.links.get(lk) or f"{host}:{next(fresh)}" for lk in directed}
    return Ports(nodes, links)


@dataclass(frozen=True)
class Reconcile:
    """What ``up`` of an edited file changes on a cluster that is down."""

    added: list[str]
    removed: list[str]

    def describe(self, name: str) -> str:
        parts = [f"added {n}" for n in self.added] + [f"removed {n}" for n in self.removed]
        return f"cluster {name}: members reconciled with the file: " + ", ".join(parts)


def reconcile_plan(old: Topology, new: Topology) -> Reconcile | None:
    """The member changes from ``old`` to ``new`` (None when the nodes are the same); a
    change of anything but members and links is refused: ClusterError naming it."""
    added = [n for n in new.names() if n not in old.names()]
    removed = [n for n in old.names() if n not in new.names()]
    kept = [n for n in new.names() if n in old.names()]
    differ = [f for f in ("tenant", "proxies") if getattr(old, f) != getattr(new, f)]
    differ += [f"node {n}" for n in kept if old.node(n) != new.node(n)]
    if not kept:
        differ.append("every node")
    if differ:
        raise ClusterError(
            f"the state directory holds cluster {old.name} with another {', '.join(differ)} "
            f"than {new.source}; only nodes may be added or removed on `up`. Put those back, "
            f"or `cluster down --purge --cluster {old.name}` to start afresh"
        )
    return Reconcile(added, removed) if added or removed else None


def confirm_drops(plan: Reconcile | None, name: str, path: Path, force: bool) -> None:
    """``up`` of a file that drops members removes them only when told so (``force``):
    ClusterError naming them, the flag and the way back, before anything changed."""
    if plan is None or not plan.removed or force:
        return
    gone = ", ".join(plan.removed)
    raise ClusterError(
        f"{path} no longer names {gone} of cluster {name}: `up` of it would remove "
        f"{gone} (each checked first to be held by the others, as `cluster remove`; its "
        f"data directory goes). Nothing was changed. `cluster up --force {path}` to remove "
        f"{gone}, or `cluster up --cluster {name}` with no file to bring the cluster back "
        "as it was"
    )


def reconcile_source(topo: Topology, path: Path, stored: Path) -> tuple[Path, Reconcile | None]:
    """Which file ``up`` of ``topo`` (read from ``path``) brings up first, and the member
    changes to make after: ``path`` and None when it matches the ``stored`` topology of a
    cluster that is down (or there is none); else ``stored`` and the changes."""
    if not stored.exists() or stored.read_text() == path.read_text():
        return path, None
    return stored, reconcile_plan(load_topology(stored), topo)


def lacking(own: Mapping[str, int], held: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """For each node in ``held`` (its vv) lacking some of ``own`` (a leaving node's origins
    and tops), how many entries it lacks."""
    out = {}
    for node, vv in held.items():
        short = sum(max(0, top - vv.get(origin, 0)) for origin, top in own.items())
        if short:
            out[node] = short
    return out
