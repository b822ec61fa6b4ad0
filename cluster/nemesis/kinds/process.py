"""Process faults: ``kill`` (kill -9, then a restart) and ``pause`` (the backend's pause,
then resume). A step always leaves one node up for the clients."""

from __future__ import annotations

from typing import Any

from cluster.nemesis.kinds.base import Context, Fault, Runner


class _OneNode:
    name = ""
    default = True
    alone = False
    per_node = True

    def plan(self, ctx: Context) -> Fault | None:
        if len(ctx.taken) + 1 >= len(ctx.nodes):  # always leave a node up for the clients
            return None
        return Fault(self.name, node=ctx.rng.choice([n for n in ctx.nodes if n not in ctx.taken]))

    def target(self, fault: Fault) -> str:
        return fault.node

    def detail(self, fault: Fault) -> dict[str, Any]:
        return {"node": fault.node}


class Kill(_OneNode):
    name, order, colour, ends = "kill", 2, "#7f7f7f", "start"

    def apply(self, run: Runner, fault: Fault) -> None:
        run.c.kill(fault.node)
        run.held[self.name].add(fault.node)
        run.live.set(fault.node, "killed")
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        self._start(run, fault.node, start_timeout)

    def restore(self, run: Runner, timeout: float) -> None:
        for node in sorted(run.held[self.name]):
            self._start(run, node, timeout)

    def _start(self, run: Runner, node: str, timeout: float) -> None:
        run.c.start(node, timeout=timeout)
        run.held[self.name].discard(node)
        run.record("start", node=node)
        run.live.set(node, "up")


class Pause(_OneNode):
    name, order, colour, ends = "pause", 1, "#9467bd", "resume"

    def apply(self, run: Runner, fault: Fault) -> None:
        run.c.pause(fault.node)
        run.held[self.name].add(fault.node)
        run.live.set(fault.node, "paused")
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        self._resume(run, fault.node)

    def restore(self, run: Runner, timeout: float) -> None:
        for node in sorted(run.held[self.name]):
            self._resume(run, node)

    def _resume(self, run: Runner, node: str) -> None:
        run.c.resume(node)
        run.held[self.name].discard(node)
        run.record("resume", node=node)
        run.live.set(node, "up")
