"""Fault kinds are registered objects (cluster/nemesis/kinds): plan, apply, undo,
restore, the report's windows and its colours all come from ``KINDS``, so a new kind is
one module and one registry line."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from cluster.nemesis.apply import Nemesis
from cluster.nemesis.drawing import colour
from cluster.nemesis.kinds import DEFAULT_FAULTS, FAULTS, KINDS, Context, Fault, Runner
from cluster.nemesis.plan import plan
from cluster.nemesis.report import fault_windows

pytestmark = pytest.mark.unit

NODES = ["node-a", "node-b", "node-c"]
LINKS = [f"{s}>{d}" for s in NODES for d in NODES if s != d]


def test_the_registry_holds_every_kind_with_what_the_rest_needs():
    assert FAULTS == ("partition", "kill", "pause", "membership", "clock")
    assert DEFAULT_FAULTS == ("partition", "kill", "pause")
    assert len({k.order for k in KINDS.values()}) == len(KINDS)  # one undo order
    assert len({k.colour for k in KINDS.values()}) == len(KINDS)
    for name, kind in KINDS.items():
        assert kind.name == name and kind.ends and kind.ends not in KINDS
        for method in ("plan", "detail", "target", "apply", "undo", "restore"):
            assert callable(getattr(kind, method)), (name, method)


@dataclass(frozen=True)
class Slow:
    ms: int


class Disk:
    """A kind the tool does not have: registered, it runs through every loop."""

    name, default, alone, order, colour = "disk", False, False, 9, "#123456"
    ends, per_node = "disk-heal", True

    def plan(self, ctx: Context) -> Fault | None:
        return Fault(self.name, node=ctx.rng.choice(ctx.nodes), params=Slow(5))

    def target(self, fault: Fault) -> str:
        return fault.node

    def detail(self, fault: Fault) -> dict[str, Any]:
        return {"node": fault.node, "ms": fault.params.ms}

    def apply(self, run: Runner, fault: Fault) -> None:
        run.held[self.name].add(fault.node)
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        run.held[self.name].discard(fault.node)
        run.record(self.ends, node=fault.node)

    def restore(self, run: Runner, timeout: float) -> None:
        for node in sorted(run.held[self.name]):
            run.record(self.ends, node=node)
        run.held[self.name].clear()


class FakeCluster:
    has_proxy = False

    def heal(self) -> None:
        raise AssertionError("no partition was planned")

    def wait_ready(self, timeout: float) -> None:
        pass


def test_a_new_kind_is_planned_applied_undone_restored_and_drawn_from_its_entry(monkeypatch):
    monkeypatch.setitem(KINDS, "disk", Disk())
    steps = plan(random.Random(3), NODES, LINKS, ["disk"], 5)
    faults = [f for s in steps for f in s.faults]
    assert faults and {f.kind for f in faults} == {"disk"}
    clock = iter(range(100))
    run = Nemesis(FakeCluster(), live=None, clock=lambda: float(next(clock)))  # type: ignore[arg-type]
    run.apply(faults[0])
    run.undo([faults[0]])
    run.apply(faults[1])  # still in force when the run ends
    run.restore(1.0)
    actions = [e["action"] for e in run.timeline]
    assert actions == ["disk", "disk-heal", "disk", "disk-heal", "restored"]
    windows = fault_windows(run.timeline, end=99.0)
    assert [(w.kind, w.start, w.end) for w in windows] == [("disk", 0.0, 1.0), ("disk", 2.0, 3.0)]
    assert colour("disk") == "#123456"
    assert isinstance(run.held, defaultdict) and not run.held["disk"]
