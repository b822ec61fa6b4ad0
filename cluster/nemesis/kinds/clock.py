"""``clock``: one node's clock shifted by 100 ms to 5 s either way, then put back. The
node stays up: only its clock is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.nemesis.kinds.base import Context, Fault, Runner

SKEW_MS = (100, 5000)  # how far, either way


@dataclass(frozen=True)
class Skew:
    offset_ms: int


class Clock:
    name, default, alone, order, colour = "clock", False, False, 3, "#ff7f0e"
    ends, per_node = "unskew", True

    def plan(self, ctx: Context) -> Fault | None:
        offset = ctx.rng.choice((-1, 1)) * ctx.rng.randint(*SKEW_MS)
        free = [n for n in ctx.nodes if n not in ctx.taken]  # not one killed or paused
        return Fault(self.name, node=ctx.rng.choice(free), params=Skew(offset)) if free else None

    def target(self, fault: Fault) -> str:
        return fault.node

    def detail(self, fault: Fault) -> dict[str, Any]:
        return {"node": fault.node, "offset_ms": fault.params.offset_ms}

    def apply(self, run: Runner, fault: Fault) -> None:
        run.c.skew(fault.node, fault.params.offset_ms)
        run.held[self.name].add(fault.node)
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        self._unskew(run, fault.node)

    def restore(self, run: Runner, timeout: float) -> None:
        for node in sorted(run.held[self.name]):
            self._unskew(run, node)

    def _unskew(self, run: Runner, node: str) -> None:
        """Put a node's clock back (a node restarted since has its true clock already)."""
        if node in run.held[self.name] and node not in run.held["kill"]:
            run.c.skew(node, 0)
            run.record("unskew", node=node)
        run.held[self.name].discard(node)
