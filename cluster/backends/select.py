"""The backend of a cluster's state directory, by the name its state records."""

from __future__ import annotations

from pathlib import Path

from cluster.backends.base import Backend
from cluster.backends.registry import BACKENDS, DEFAULT, traits
from cluster.state import ClusterState


def backend_for(state_dir: Path) -> Backend:
    """The backend that runs (or ran) the cluster in ``state_dir``, as its state names."""
    backend: Backend = traits(ClusterState.load(state_dir).backend).make(state_dir)
    return backend


def salvage_backend(state_dir: Path) -> Backend:
    """What ran the cluster in ``state_dir`` when its cluster.json cannot be read: the
    backend whose marker file it left (Docker's ``docker.json``: its containers are then
    found by their labels), else supervisord (its socket from ``supervisord.conf``, or its
    processes by their config paths)."""
    for t in BACKENDS.values():
        if t.marker and (state_dir / t.marker).is_file():
            marked: Backend = t.make(state_dir, cluster=state_dir.name)
            return marked
    default: Backend = BACKENDS[DEFAULT].make(state_dir)
    return default
