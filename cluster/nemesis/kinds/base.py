"""What a fault kind is: the ``FaultKind`` protocol, the planned ``Fault`` it makes, the
``Context`` it is planned in and the ``Runner`` it acts through."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from cluster.api import Cluster
from cluster.nemesis.workers import Live


@dataclass(frozen=True)
class Fault:
    """One planned fault: its kind, the node it targets (if any), and what the kind
    needs to apply it (``params``: the kind's own record)."""

    kind: str
    node: str = ""
    params: Any = None


@dataclass(frozen=True)
class Context:
    """What a step is planned against."""

    rng: random.Random
    nodes: list[str]
    links: list[str]
    taken: set[str]  # nodes another fault of this step targets already
    leavable: list[str]  # nodes that may leave the membership
    can_join: bool  # a new node can be linked per the topology's shape
    step: int


class Runner(Protocol):
    """What a kind acts through while a run goes (``cluster.nemesis.apply.Nemesis``)."""

    c: Cluster
    live: Live  # what the clients may use
    held: dict[str, set[str]]  # per kind: the nodes its faults hold now

    def record(self, action: str, **detail: Any) -> None: ...


class FaultKind(Protocol):
    name: str
    default: bool  # in a run's faults unless others are asked for
    alone: bool  # a step with it holds nothing else
    order: int  # undone and restored in rising order (links first, membership last)
    colour: str  # in report.html
    ends: str  # the timeline action that ends it
    per_node: bool  # that action names the node the fault targeted

    def plan(self, ctx: Context) -> Fault | None:
        """A fault of this kind for one step, or None when none fits."""
        ...

    def detail(self, fault: Fault) -> dict[str, Any]:
        """What the timeline records of it."""
        ...

    def target(self, fault: Fault) -> str:
        """What it acts on, in a word, for progress lines (a node, a partition's shape)."""
        ...

    def apply(self, run: Runner, fault: Fault) -> None: ...

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None: ...

    def restore(self, run: Runner, timeout: float) -> None:
        """Undo whatever of this kind is still in force (the run is ending)."""
        ...
