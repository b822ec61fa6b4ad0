"""Ready means: a node serves (gRPC health) and each of its links to a running peer is up."""

from __future__ import annotations

from collections.abc import Collection

from cluster.client import NodeClient
from cluster.errors import ClusterError
from cluster.faults.model import link_name


def not_ready(
    node: str, client: NodeClient, running: Collection[str], cut: Collection[str]
) -> list[str]:
    """What ``node`` still lacks: ``<node> serving``, or its links down to running peers
    (``src>dst``), except links in ``cut`` (faults put them down on purpose)."""
    try:
        if not client.serving():
            return [f"{node} serving"]
        st = client.status(timeout=2)
    except ClusterError:
        return [f"{node} serving"]
    down = [link_name(node, p.peer) for p in st.peers if p.address and not p.connected]
    return [link for link in down if link.split(">")[1] in running and link not in cut]
