"""Which backend runs a cluster: the flag, else the one that ran it before, else the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.errors import ClusterError
from cluster.state import ClusterState
from cluster.topology import parse_topology

pytestmark = pytest.mark.component

MESH3 = "name: m\nnodes: [a, b, c]\n"


def test_a_clusters_data_stays_with_its_backend(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MESH3)
    topo = parse_topology(MESH3, str(path))
    home = tmp_path / "m"
    assert ClusterState.for_up(topo, path, home, backend="docker").backend == "docker"
    assert ClusterState.for_up(topo, path, home).backend == "docker"  # as it was
    with pytest.raises(ClusterError, match="holds its data in the docker backend"):
        ClusterState.for_up(topo, path, home, backend="supervisor")
