"""Reading ``cluster.json`` and the stored ``topology.yaml`` defensively.

The tool writes both atomically, but a person (or a full disk, or an editor) can leave
them empty, truncated or wrong. Every verb then gets one line naming the file and the
way out, never a traceback, and ``down`` still stops what runs (``cluster.salvage``):
what is damaged must never keep the processes it describes running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cluster.backends.registry import DEFAULT, NAMES
from cluster.errors import ClusterError
from cluster.topology import Topology, TopologyError, parse_topology


class DamagedState(ClusterError):
    """A state file the tool cannot trust; the message names it and the way out."""

    def __init__(self, path: Path, what: str, fix: str) -> None:
        self.problem = f"{path} is damaged ({what})"
        super().__init__(f"{self.problem}: {fix}")


def way_out(state_dir: Path) -> str:
    name = state_dir.name
    return (
        f"`cluster down --cluster {name}` stops whatever of it still runs (data kept), "
        f"`cluster down --purge --cluster {name}` also deletes its state and data"
    )


def damaged(path: Path, what: str) -> DamagedState:
    return DamagedState(path, what, way_out(path.parent))


def _port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _address(value: Any) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    port = value.rsplit(":", 1)[1]
    return port.isdigit() and _port(int(port))


def _problem(data: Any) -> str | None:
    """What is wrong with ``data`` as a cluster.json, or None."""
    if not isinstance(data, dict):
        return f"expected a JSON object, found {type(data).__name__}"
    for key in ("name", "topology_text"):
        if not isinstance(data.get(key), str) or not data[key]:
            return f"{key!r} missing or not a string"
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        return "'nodes' missing or not an object of nodes"
    for node, spec in nodes.items():
        if not isinstance(spec, dict) or not _port(spec.get("port")):
            return f'nodes.{node}: expected {{"port": 1-65535}}, found {spec!r}'
    proxy = data.get("proxy", "missing")
    if proxy is not None:
        if not isinstance(proxy, dict) or not _address(proxy.get("control")):
            return "'proxy' must be null or an object with a control address"
        links = proxy.get("links")
        if not isinstance(links, dict) or not all(_address(a) for a in links.values()):
            return "proxy.links must map each link to an address"
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict) or not all(_port(p) for p in metrics.values()):
        return "'metrics' must map nodes to ports"
    paused = data.get("paused", [])
    if not isinstance(paused, list) or not all(isinstance(n, str) for n in paused):
        return "'paused' must be a list of node names"
    if data.get("backend", DEFAULT) not in NAMES:
        return f"unknown backend {data.get('backend')!r}"
    return None


def read_state(path: Path) -> dict[str, Any]:
    """``cluster.json`` as a checked dict; ``DamagedState`` says what is wrong and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise damaged(path, "missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, f"unreadable: {exc}") from None
    if not text.strip():
        raise damaged(path, "empty")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise damaged(path, f"not JSON: {exc}") from None
    problem = _problem(data)
    if problem:
        raise damaged(path, problem)
    return data


def recorded_topology(state_file: Path, text: str, nodes: list[str]) -> Topology:
    """The topology ``cluster.json`` records (its ``topology_text``): the cluster as it runs."""
    try:
        topo = parse_topology(text, f"{state_file} (topology_text)")
    except TopologyError as exc:
        raise damaged(state_file, f"its topology: {exc.message}") from None
    if sorted(topo.names()) != sorted(nodes):
        raise damaged(state_file, "its topology and its nodes name different nodes")
    return topo


def check_copy(topology_file: Path, text: str) -> bool:
    """Is the stored ``topology.yaml`` the copy of ``text`` it should be? A copy that is
    unreadable or not a valid topology is ``DamagedState``; a valid one that differs (edited
    by hand) is False: the cluster runs as ``cluster.json`` records, whatever it says."""
    try:
        stored = topology_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_copy(topology_file, f"unreadable: {exc}") from None
    if stored == text:
        return True
    try:
        parse_topology(stored, str(topology_file))
    except TopologyError as exc:
        raise _bad_copy(topology_file, str(exc.message)) from None
    return False


def _bad_copy(path: Path, what: str) -> DamagedState:
    name = path.parent.name
    return DamagedState(
        path,
        what,
        f"it is the tool's copy of the topology in cluster.json; `cluster down --cluster "
        f"{name}` then `cluster up FILE` writes it again",
    )
