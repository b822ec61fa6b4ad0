"""Process verbs of ``Cluster``: kill, stop, start, restart, pause, resume, and what the
backend runs. A mixin, like ``LinkFaults`` and ``Membership``, so ``cluster.api`` stays
one facade of small parts; the rest of ``Cluster`` provides what is declared here."""

from __future__ import annotations

from collections.abc import Sequence

from cluster.backends.base import RUNNING, ProcessInfo
from cluster.errors import OperationFailed
from cluster.facade import Facade
from cluster.render import PROXY
from cluster.secrets import ensure
from cluster.verblock import exclusive
from cluster.wait import WaitTimeout, wait_for


class ProcessVerbs(Facade):
    """Each node's process as the backend runs it (supervisord or a container)."""

    @exclusive("kill")
    def kill(self, node: str) -> None:
        """SIGKILL, not restarted."""
        self._known(node)
        self._unpause(node)
        self._backend.kill(node)

    @exclusive("stop")
    def stop(self, node: str) -> None:
        if node == PROXY and self.has_proxy:  # links stop forwarding until it starts
            self._backend.stop(PROXY)
            return
        self._known(node)
        self._unpause(node)
        self._backend.stop(node)

    @exclusive("start")
    def start(self, node: str, timeout: float = 30, wait: bool = True) -> None:
        """Start ``node`` (or the link proxy, ``proxy``); ``wait``: until it serves and its
        links are up (the proxy: until it answers)."""
        if node == PROXY and self.has_proxy:
            self._backend.start(PROXY, wait=False)
            if wait:
                try:
                    wait_for(self._proxy().ping, timeout, "the link proxy to answer")
                except WaitTimeout as exc:
                    raise OperationFailed(f"{exc}; `cluster logs proxy` says why") from None
            return
        self._known(node)
        if self._state.tls:  # as ``up`` does: a node must not start with one refused
            ensure(self.dir, self._state.name, [node], True, self.notes)
        self._backend.start(node, wait=False)
        if wait:
            self.wait_ready(timeout, nodes=[node])

    @exclusive("restart")
    def restart(self, node: str, timeout: float = 30) -> None:
        self.stop(node)
        self.start(node, timeout)

    @exclusive("pause")
    def pause(self, node: str) -> None:
        self._known(node)
        if self._backend.info(node).state != RUNNING:
            raise OperationFailed(f"{node} is not running ({self.process_state(node)})")
        self._backend.pause(node)
        self._state.set_paused(node, True)

    @exclusive("resume")
    def resume(self, node: str) -> None:
        self._known(node)
        self._backend.resume(node)
        self._state.set_paused(node, False)

    def _unpause(self, node: str) -> None:
        if node in self._state.paused:
            if self._backend.info(node).state == RUNNING:
                self._backend.resume(node)
            self._state.set_paused(node, False)

    def is_up(self) -> bool:
        """Does the machinery that runs the processes (supervisord) answer?"""
        return self._backend.is_up()

    def processes(self) -> dict[str, ProcessInfo]:
        """Every process of the cluster (nodes and the link proxy) by name, with state and pid."""
        return self._backend.processes()

    def pids(self) -> Sequence[int]:
        """Every OS process running for this cluster, its supervisor included."""
        return self._backend.pids()

    def daemon_pid(self) -> int | None:
        """The supervisor's own pid (supervisord), if it runs."""
        return self._backend.daemon_pid()
