"""Whether this node's storage works, and who must know when that changes.

A storage error (disk full, an I/O error, the data directory removed or made
read-only under a running node) turns the node's gRPC health NOT_SERVING, so load
balancers and `cluster status` see it, and every write fails with UNAVAILABLE and the
reason; a periodic probe turns it back to SERVING once the storage works again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("node.storage.health")


class StorageHealth:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.error = ""  # empty while the storage works
        self._listeners: list[Callable[[bool], None]] = []

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """``listener(serving)`` on every change."""
        self._listeners.append(listener)

    def failed(self, error: str) -> None:
        if error != self.error:
            log.error("%s: storage failed: %s", self.node_id, error)
        was_ok = not self.error
        self.error = error
        if was_ok:
            for listener in self._listeners:
                listener(False)

    def recovered(self) -> None:
        if self.error:
            log.warning("%s: storage works again (was: %s)", self.node_id, self.error)
            self.error = ""
            for listener in self._listeners:
                listener(True)
