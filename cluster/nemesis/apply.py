"""Faults applied to a cluster and undone, each recorded in the timeline; what each
kind does is the kind's own (``cluster.nemesis.kinds``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cluster.api import Cluster
from cluster.nemesis.kinds import KINDS, Fault
from cluster.nemesis.workers import Live


class Nemesis:
    """Applies and undoes faults on ``cluster`` and records the timeline (a ``Runner``)."""

    def __init__(self, cluster: Cluster, live: Live, clock: Callable[[], float]) -> None:
        self.c, self.live, self.clock = cluster, live, clock
        self.timeline: list[dict[str, Any]] = []
        self.held: dict[str, set[str]] = defaultdict(set)  # per kind: nodes held now

    def record(self, action: str, **detail: Any) -> None:
        self.timeline.append({"time": self.clock(), "action": action, "detail": detail})

    def apply(self, fault: Fault) -> None:
        KINDS[fault.kind].apply(self, fault)

    def undo(self, faults: Iterable[Fault], start_timeout: float = 60) -> None:
        """In each kind's order: links healed first, then resumed, then restarted (a
        restart waits for its links)."""
        for f in sorted(faults, key=lambda f: KINDS[f.kind].order):
            KINDS[f.kind].undo(self, f, start_timeout)

    def restore(self, timeout: float) -> None:
        """Whatever happened, leave every link healed and every node running and ready."""
        for kind in sorted(KINDS.values(), key=lambda k: k.order):
            kind.restore(self, timeout)
        self.c.wait_ready(timeout)
        self.record("restored")
