"""pytest plugin (entry point ``remesh``): the ``remesh_cluster`` fixture.

``remesh_cluster("mesh3")`` (a built-in topology's name, or any topology file) brings a
topology up in the test's temporary directory and always tears it down, leaving no
process behind. Keyword arguments go to ``Cluster.up``: ``backend="docker"`` runs it as
containers (their volumes outlive the test until ``cluster gc`` finds the state
directory gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def remesh_cluster(tmp_path: Path) -> Iterator:
    from cluster.api import Cluster

    started: list[Cluster] = []

    def up(topology: str | Path, **kwargs: Any) -> Cluster:
        c = Cluster.up(topology, home=tmp_path / "clusters", **kwargs)
        started.append(c)
        return c

    try:
        yield up
    finally:
        for c in reversed(started):
            c.down()
