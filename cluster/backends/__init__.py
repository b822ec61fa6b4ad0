"""What runs a cluster's processes: the ``Backend`` protocol and its implementations.

``base`` holds the protocol and the generic ``ProcessSpec``/``ProcessInfo``;
``supervisor`` is the supervisord implementation, ``docker`` the container one;
``procfs`` reads local processes from /proc for any backend that runs them on this machine.
"""

from __future__ import annotations

from pathlib import Path

from cluster.backends.base import Backend
from cluster.backends.docker import DockerBackend
from cluster.backends.docker.engine import META_FILE
from cluster.backends.supervisor import SupervisorBackend
from cluster.state import ClusterState

BACKENDS = ("supervisor", "docker")


def backend_for(state_dir: Path) -> Backend:
    """The backend that runs (or ran) the cluster in ``state_dir``, as its state names."""
    if ClusterState.load(state_dir).backend == "docker":
        return DockerBackend(state_dir)
    return SupervisorBackend(state_dir)


def salvage_backend(state_dir: Path) -> Backend:
    """What ran the cluster in ``state_dir`` when its cluster.json cannot be read: Docker
    when it left its ``docker.json`` (containers are found by its labels), else supervisord
    (its socket from ``supervisord.conf``, or its processes by their config paths)."""
    if (state_dir / META_FILE).is_file():
        return DockerBackend(state_dir, cluster=state_dir.name)
    return SupervisorBackend(state_dir)
