"""The fault schedule: one ``random.Random(seed)`` plans every step up front (pure).

A step applies one fault, sometimes two at once (a partition of some shape, a
kill -9 or a SIGSTOP), holds it, undoes it and leaves a calm gap. The first
steps apply each allowed kind once; a node is always left up for the clients.
A ``membership`` step is always alone (a node leaving waits for every other node
to hold its writes): a member leaves and comes back as a fresh incarnation, or a
new node joins and leaves again, so every step ends with the members it began with.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cluster.faults.model import partition_faults, split_link

FAULTS = ("partition", "kill", "pause", "membership", "clock")
DEFAULT_FAULTS = ("partition", "kill", "pause")  # membership and clock are asked for by name
SKEW_MS = (100, 5000)  # a clock fault shifts one node's clock this far, either way
SHAPES = ("halves", "isolate", "bridge", "ring")
HOLD = (0.5, 3.0)  # seconds a fault is held
GAP = (0.2, 1.0)  # seconds of calm between faults, so replication gets a chance
TWO_AT_ONCE = 0.25


@dataclass(frozen=True)
class Fault:
    kind: str  # partition / kill / pause / membership / clock
    node: str = ""  # kill, pause and clock target; the node leaving or joining
    change: str = ""  # membership: "leave" (then re-added) or "join" (then removed)
    shape: str = ""  # partition shape
    cuts: tuple[str, ...] = ()  # partition: directed links cut
    groups: tuple[tuple[str, ...], ...] = ()
    middle: str = ""  # bridge: the node both groups still see
    mode: str = "blackhole"
    offset_ms: int = 0  # clock: how far the node's clock is shifted

    def detail(self) -> dict[str, Any]:
        if self.kind == "clock":
            return {"node": self.node, "offset_ms": self.offset_ms}
        if self.kind == "membership":
            return {"node": self.node, "change": self.change}
        if self.kind != "partition":
            return {"node": self.node}
        out = {"shape": self.shape, "mode": self.mode, "groups": [list(g) for g in self.groups]}
        return out | ({"middle": self.middle} if self.middle else {}) | {"cuts": list(self.cuts)}


@dataclass(frozen=True)
class Step:
    faults: tuple[Fault, ...]
    hold: float
    gap: float


def _partition(rng: random.Random, nodes: list[str], links: list[str]) -> Fault | None:
    n = len(nodes)
    shapes = [s for s in SHAPES if n >= 3 or s in ("halves", "isolate")]
    for _ in range(8):
        shape = rng.choice(shapes)
        order = rng.sample(nodes, n)
        cuts: set[str] = set()
        groups: list[list[str]] = []
        if shape == "halves":
            groups = [order[: n // 2], order[n // 2 :]]
        elif shape == "isolate":
            groups = [order[:1], order[1:]]
        elif shape == "bridge":  # order[0] is the middle node every other node still sees
            k = rng.randint(1, n - 2)
            groups = [order[1 : 1 + k], order[1 + k :]]
        if groups:
            cuts = set(partition_faults(groups, links))
        elif n == 3:  # ring of three: each node cut from pulling one peer (one way)
            cuts = {f"{order[i]}>{order[(i + 1) % n]}" for i in range(n)} & set(links)
        else:  # ring: each node keeps only its two ring neighbours
            near = {frozenset((order[i], order[(i + 1) % n])) for i in range(n)}
            cuts = {lk for lk in links if frozenset(split_link(lk)) not in near}
        if cuts:
            mode = "reset" if rng.random() < 0.25 else "blackhole"
            return Fault(
                "partition",
                shape=shape,
                cuts=tuple(sorted(cuts)),
                groups=tuple(tuple(g) for g in groups) or (tuple(order),),  # ring: its order
                middle=order[0] if shape == "bridge" else "",
                mode=mode,
            )
    return None


def _membership(rng: random.Random, leavable: list[str], can_join: bool, step: int) -> Fault:
    if leavable and (not can_join or rng.random() < 0.5):
        return Fault("membership", node=rng.choice(leavable), change="leave")
    return Fault("membership", node=f"join-{step}", change="join")


def plan(
    rng: random.Random,
    nodes: list[str],
    links: list[str],
    faults: Iterable[str],
    duration: float,
    leavable: list[str] | None = None,
    can_join: bool = True,
) -> list[Step]:
    """The fault schedule: the first steps apply each allowed kind once, then at random.
    ``leavable``: the nodes that may leave (default all); ``can_join``: a new node can be
    linked per the topology's shape."""
    allowed = sorted(set(faults))
    first = rng.sample(allowed, len(allowed))
    leavable = nodes if leavable is None else leavable
    steps: list[Step] = []
    total = 0.0
    while total < duration or first:
        kinds = [first.pop(0) if first else rng.choice(allowed)]
        if rng.random() < TWO_AT_ONCE:
            kinds.append(rng.choice(allowed))
        if "membership" in kinds:  # alone, always
            kinds = kinds[:1]
        chosen: list[Fault] = []
        for kind in kinds:
            taken = {f.node for f in chosen if f.node}
            if kind == "membership":
                fault: Fault | None = _membership(rng, leavable, can_join, len(steps))
            elif kind == "partition":
                fault = _partition(rng, nodes, links) if links else None
            elif kind == "clock":  # the node stays up: only its clock is wrong
                offset = rng.choice((-1, 1)) * rng.randint(*SKEW_MS)
                free = [n for n in nodes if n not in taken]  # not one killed or paused
                fault = Fault("clock", node=rng.choice(free), offset_ms=offset) if free else None
            elif len(taken) + 1 < len(nodes):  # always leave a node up for the clients
                fault = Fault(kind, node=rng.choice([n for n in nodes if n not in taken]))
            else:
                fault = None
            if fault:
                chosen.append(fault)
        step = Step(tuple(chosen), round(rng.uniform(*HOLD), 3), round(rng.uniform(*GAP), 3))
        steps.append(step)
        total += step.hold + step.gap
    return steps
