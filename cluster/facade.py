"""What ``Cluster``'s parts use of the whole, declared once (issue 26).

``cluster.api.Cluster`` is one facade assembled from parts by role: ``LinkFaults``
(``cluster.faults.verbs``), ``Membership`` (``cluster.membership``) and ``ProcessVerbs``
(``cluster.processes``). Each part subclasses this protocol instead of repeating stubs of
what the others provide, so a signature is written in one place and mypy checks every
part and the facade against it (a part that calls ``wait_ready`` with ``progress``, say,
type-checks only if the declaration has it and ``Cluster``'s has it too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from cluster.backends.base import Backend
from cluster.client import NodeClient
from cluster.faults.control import SupervisedControl
from cluster.secrets import Credentials
from cluster.state import ClusterState
from cluster.topology import Topology

Progress = Callable[[str], None] | None


class Facade(Protocol):
    dir: Path  # the cluster's state directory
    name: str
    topology: Topology
    lock_wait: float | None  # how long a verb waits for the cluster's lock (None: refuse)
    notes: list[str]  # what a verb found and did, for the operator
    _state: ClusterState
    _backend: Backend
    _lock: threading.Lock  # verbs may run from several client threads
    _clients: dict[str, NodeClient]

    def _known(self, *nodes: str) -> None:
        """``ClusterError`` naming the nodes when one is not in the cluster."""
        ...

    @property
    def has_proxy(self) -> bool: ...

    def _proxy(self) -> SupervisedControl: ...

    def _proxy_control_address(self) -> str: ...

    def _answering(self, node: str) -> NodeClient: ...

    def credentials(self) -> Credentials: ...

    def client(self, node: str) -> NodeClient: ...

    def process_state(self, node: str) -> str: ...

    def running_nodes(self) -> list[str]: ...

    def wait_ready(
        self, timeout: float = 60, nodes: Sequence[str] | None = None, progress: Progress = None
    ) -> None: ...

    def log_path(self, node: str) -> Path: ...
