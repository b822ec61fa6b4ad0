"""``membership``: a member leaves and comes back as a fresh incarnation, or a new node
joins and leaves again, so every step ends with the members it began with. Always
alone in its step (a node leaving waits for every other node to hold its writes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.nemesis.kinds.base import Context, Fault, Runner


@dataclass(frozen=True)
class Change:
    change: str  # "leave" (then re-added) or "join" (then removed)


class Membership:
    name, default, alone, order, colour = "membership", False, True, 4, "#17becf"
    ends, per_node = "membership-undo", True

    def plan(self, ctx: Context) -> Fault | None:
        if ctx.leavable and (not ctx.can_join or ctx.rng.random() < 0.5):
            return Fault(self.name, node=ctx.rng.choice(ctx.leavable), params=Change("leave"))
        return Fault(self.name, node=f"join-{ctx.step}", params=Change("join"))

    def target(self, fault: Fault) -> str:
        return fault.node

    def detail(self, fault: Fault) -> dict[str, Any]:
        return {"node": fault.node, "change": fault.params.change}

    def apply(self, run: Runner, fault: Fault) -> None:
        if fault.params.change == "leave":
            run.held["left"].add(fault.node)
            _leave(run, fault.node)
        else:
            run.held["joined"].add(fault.node)
            _join(run, fault.node)
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        self._back(run, fault.node)

    def restore(self, run: Runner, timeout: float) -> None:
        for node in sorted(run.held["left"] | run.held["joined"]):
            self._back(run, node)

    def _back(self, run: Runner, node: str) -> None:
        """Back to the members before the fault: a node that left joins again (a fresh
        incarnation), a node that joined leaves."""
        if node in run.held["left"]:
            _join(run, node)
            run.held["left"].discard(node)
            run.record(self.ends, node=node, change="rejoin")
        elif node in run.held["joined"]:
            _leave(run, node)
            run.held["joined"].discard(node)
            run.record(self.ends, node=node, change="leave")


def _leave(run: Runner, node: str) -> None:
    run.live.leave(node)  # clients stop choosing it before it refuses writes
    run.c.remove(node)


def _join(run: Runner, node: str) -> None:
    run.c.add(node)
    run.live.join(node, run.c.address(node))
