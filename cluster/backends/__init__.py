"""What runs a cluster's processes: the ``Backend`` protocol and its implementations.

``base`` holds the protocol and the generic ``ProcessSpec``/``ProcessInfo``;
``supervisor`` is the supervisord implementation; ``procfs`` reads local
processes from /proc for any backend that runs them on this machine.
"""

from __future__ import annotations

from pathlib import Path

from cluster.backends.base import Backend
from cluster.backends.supervisor import SupervisorBackend


def backend_for(state_dir: Path) -> Backend:
    """The backend that runs (or ran) the cluster in ``state_dir``: supervisord, for now."""
    return SupervisorBackend(state_dir)
