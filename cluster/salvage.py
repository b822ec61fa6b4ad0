"""``down`` of a cluster whose state files are damaged: stop what runs, from what is left.

``Cluster`` needs a readable ``cluster.json``; stopping a cluster must not. The backend is
found from the files beside it (``cluster.backends.salvage_backend``), which finds the
processes through their supervisor's socket or, with none, by the config paths on their
command lines: the same way ``down`` stops what a SIGKILLed supervisord left.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cluster.backends.base import BackendError
from cluster.backends.select import backend_for, salvage_backend
from cluster.errors import OperationFailed
from cluster.state import STATE_FILE
from cluster.verblock import hold_for_down


def down_damaged(state_dir: Path, purge: bool, timeout: float = 60) -> list[str]:
    """Stop every process of the cluster in ``state_dir`` (and with ``purge`` delete the
    directory); returns the processes found without their supervisor and stopped."""
    try:
        with hold_for_down(state_dir, None, timeout):
            leftovers = salvage_backend(state_dir).down(purge=purge)
    except BackendError as exc:
        raise OperationFailed(str(exc)) from None
    if purge:
        shutil.rmtree(state_dir)
    return leftovers


def stop_leftovers(state_dir: Path) -> list[str]:
    """Stop what a dead supervisor left running, as ``down`` would; ``up`` does so before
    it plans the ports, which those processes hold (else every port changed under the
    clients). Returns a note naming them; none for a new cluster or nothing left."""
    if not (state_dir / STATE_FILE).exists():
        return []
    backend = backend_for(state_dir)
    if not backend.pids():  # none (a container engine runs nothing on this machine)
        return []
    names = sorted(backend.processes())
    try:
        backend.down()
    except BackendError as exc:
        raise OperationFailed(str(exc)) from None
    return [f"stopped {', '.join(names)}, left running by a supervisord that died (ports kept)"]
