"""Faults applied to a cluster and undone, each recorded in the timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cluster.api import Cluster
from cluster.faults.model import mode_faults
from cluster.nemesis.plan import Fault
from cluster.nemesis.workers import Live


class Nemesis:
    """Applies and undoes faults on ``cluster`` and records the timeline."""

    def __init__(self, cluster: Cluster, live: Live, clock: Callable[[], float]) -> None:
        self.c, self.live, self.clock = cluster, live, clock
        self.timeline: list[dict[str, Any]] = []
        self.killed: set[str] = set()
        self.paused: set[str] = set()
        self.left: set[str] = set()  # removed by a membership fault: to be added back
        self.joined: set[str] = set()  # added by a membership fault: to be removed again
        self.skewed: set[str] = set()  # clock shifted by a clock fault: to be put back

    def record(self, action: str, **detail: Any) -> None:
        self.timeline.append({"time": self.clock(), "action": action, "detail": detail})

    def _leave(self, node: str) -> None:
        self.live.leave(node)  # clients stop choosing it before it refuses writes
        self.c.remove(node)

    def _join(self, node: str) -> None:
        self.c.add(node)
        self.live.join(node, self.c.address(node))

    def apply(self, f: Fault) -> None:
        if f.kind == "membership":
            if f.change == "leave":
                self.left.add(f.node)
                self._leave(f.node)
            else:
                self.joined.add(f.node)
                self._join(f.node)
            self.record(f.kind, **f.detail())
            return
        if f.kind == "clock":
            self.c.skew(f.node, f.offset_ms)
            self.skewed.add(f.node)
            self.record(f.kind, **f.detail())
            return
        if f.kind == "partition":
            self.c.set_link_faults(mode_faults(f.cuts, f.mode))
        elif f.kind == "kill":
            self.c.kill(f.node)
            self.killed.add(f.node)
        else:
            self.c.pause(f.node)
            self.paused.add(f.node)
        if f.node:
            self.live.set(f.node, "killed" if f.kind == "kill" else "paused")
        self.record(f.kind, **f.detail())

    def undo(self, faults: Iterable[Fault], start_timeout: float = 60) -> None:
        """Heal links first, then resume, then restart: a restart waits for its links."""
        order = {"partition": 0, "pause": 1, "kill": 2, "clock": 3, "membership": 4}
        for f in sorted(faults, key=lambda f: order[f.kind]):
            if f.kind == "clock":
                self._unskew(f.node)
                continue
            if f.kind == "membership":
                self._undo_membership(f.node)
                continue
            if f.kind == "partition":
                self.c.set_link_faults(mode_faults(f.cuts, "ok"))
                self.record("heal", links=len(f.cuts), shape=f.shape)
            elif f.kind == "pause":
                self.c.resume(f.node)
                self.paused.discard(f.node)
                self.record("resume", node=f.node)
            else:
                self.c.start(f.node, timeout=start_timeout)
                self.killed.discard(f.node)
                self.record("start", node=f.node)
            if f.node:
                self.live.set(f.node, "up")

    def _undo_membership(self, node: str) -> None:
        """Back to the members before the fault: a node that left joins again (a fresh
        incarnation), a node that joined leaves."""
        if node in self.left:
            self._join(node)
            self.left.discard(node)
            self.record("membership-undo", node=node, change="rejoin")
        elif node in self.joined:
            self._leave(node)
            self.joined.discard(node)
            self.record("membership-undo", node=node, change="leave")

    def _unskew(self, node: str) -> None:
        """Put a node's clock back (a node restarted since has its true clock already)."""
        if node in self.skewed and node not in self.killed:
            self.c.skew(node, 0)
            self.record("unskew", node=node)
        self.skewed.discard(node)

    def restore(self, timeout: float) -> None:
        """Whatever happened, leave every link healed and every node running and ready."""
        if self.c.has_proxy:
            self.c.heal()
        for n in sorted(self.paused):
            self.c.resume(n)
            self.live.set(n, "up")
            self.record("resume", node=n)
        self.paused.clear()
        for n in sorted(self.killed):
            self.c.start(n, timeout=timeout)
            self.live.set(n, "up")
            self.record("start", node=n)
        self.killed.clear()
        for n in sorted(self.left | self.joined):
            self._undo_membership(n)
        for n in sorted(self.skewed):
            self._unskew(n)
        self.c.wait_ready(timeout)
        self.record("restored")
