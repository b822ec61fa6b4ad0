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

    def record(self, action: str, **detail: Any) -> None:
        self.timeline.append({"time": self.clock(), "action": action, "detail": detail})

    def apply(self, f: Fault) -> None:
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
        order = {"partition": 0, "pause": 1, "kill": 2}
        for f in sorted(faults, key=lambda f: order[f.kind]):
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
        self.c.wait_ready(timeout)
        self.record("restored")
