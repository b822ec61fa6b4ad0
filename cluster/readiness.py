"""Ready means: a node serves (gRPC health) and each of its links to a running peer is up."""

from __future__ import annotations

from collections.abc import Collection

from cluster.client import NodeClient
from cluster.errors import ClusterError
from cluster.faults.model import link_name


def not_ready(
    node: str,
    client: NodeClient,
    running: Collection[str],
    cut: Collection[str],
    cluster: str = "",
) -> list[str]:
    """What ``node`` still lacks: ``<node> serving``, or its links down to running peers
    (``src>dst``), except links in ``cut`` (faults put them down on purpose).

    A process that answers at the node's address as another node or another cluster
    (a reused fixed port) is a ClusterError, never "ready": writes would go astray."""
    try:
        if not client.serving():
            return [f"{node} serving"]
        st = client.status(timeout=2)
    except ClusterError:
        return [f"{node} serving"]
    if st.node_id != node or (cluster and st.cluster != cluster):
        raise ClusterError(
            f"{client.address} answers as node {st.node_id!r} of cluster {st.cluster!r}, "
            f"not {node!r} of {cluster!r}: another cluster holds that port; stop it or "
            f"give {node} another port"
        )
    down = [link_name(node, p.peer) for p in st.peers if p.address and not p.connected]
    return [link for link in down if link.split(">")[1] in running and link not in cut]
