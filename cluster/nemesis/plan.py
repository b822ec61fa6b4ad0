"""The fault schedule: one ``random.Random(seed)`` plans every step up front (pure).

A step applies one fault, sometimes two at once, holds it, undoes it and leaves a
calm gap. The first steps apply each allowed kind once. What each kind plans (and
whether it must be alone in its step) is the kind's own (``cluster.nemesis.kinds``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from cluster.nemesis.kinds import KINDS, Context, Fault

HOLD = (0.5, 3.0)  # seconds a fault is held
GAP = (0.2, 1.0)  # seconds of calm between faults, so replication gets a chance
TWO_AT_ONCE = 0.25


@dataclass(frozen=True)
class Step:
    faults: tuple[Fault, ...]
    hold: float
    gap: float


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
        if any(KINDS[k].alone for k in kinds):
            kinds = kinds[:1]
        chosen: list[Fault] = []
        for kind in kinds:
            taken = {f.node for f in chosen if f.node}
            ctx = Context(rng, nodes, links, taken, leavable, can_join, len(steps))
            fault = KINDS[kind].plan(ctx)
            if fault:
                chosen.append(fault)
        step = Step(tuple(chosen), round(rng.uniform(*HOLD), 3), round(rng.uniform(*GAP), 3))
        steps.append(step)
        total += step.hold + step.gap
    return steps
