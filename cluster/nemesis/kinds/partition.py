"""``partition``: directed links cut (blackholed, or reset a quarter of the time) in one
of four shapes: two halves, one node isolated, a bridge (two groups that both still see
one middle node) or a ring (each node keeps only its ring neighbours; with three nodes,
each cut from pulling one peer, one way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.faults.model import mode_faults, partition_faults, split_link
from cluster.nemesis.kinds.base import Context, Fault, Runner

SHAPES = ("halves", "isolate", "bridge", "ring")


@dataclass(frozen=True)
class Cut:
    shape: str
    cuts: tuple[str, ...]  # directed links cut
    groups: tuple[tuple[str, ...], ...]  # ring: its order
    middle: str = ""  # bridge: the node both groups still see
    mode: str = "blackhole"


class Partition:
    name, default, alone, order, colour = "partition", True, False, 0, "#d62728"
    ends, per_node = "heal", False

    def plan(self, ctx: Context) -> Fault | None:
        if not ctx.links:
            return None
        cut = plan_cut(ctx)
        return Fault(self.name, params=cut) if cut else None

    def target(self, fault: Fault) -> str:
        return str(fault.params.shape)

    def detail(self, fault: Fault) -> dict[str, Any]:
        p: Cut = fault.params
        out = {"shape": p.shape, "mode": p.mode, "groups": [list(g) for g in p.groups]}
        return out | ({"middle": p.middle} if p.middle else {}) | {"cuts": list(p.cuts)}

    def apply(self, run: Runner, fault: Fault) -> None:
        run.c.set_link_faults(mode_faults(fault.params.cuts, fault.params.mode))
        run.record(self.name, **self.detail(fault))

    def undo(self, run: Runner, fault: Fault, start_timeout: float) -> None:
        run.c.set_link_faults(mode_faults(fault.params.cuts, "ok"))
        run.record(self.ends, links=len(fault.params.cuts), shape=fault.params.shape)

    def restore(self, run: Runner, timeout: float) -> None:
        if run.c.has_proxy:  # every link, whatever cut it
            run.c.heal()


def plan_cut(ctx: Context) -> Cut | None:
    rng, nodes, links = ctx.rng, ctx.nodes, ctx.links
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
            return Cut(
                shape,
                tuple(sorted(cuts)),
                tuple(tuple(g) for g in groups) or (tuple(order),),
                middle=order[0] if shape == "bridge" else "",
                mode="reset" if rng.random() < 0.25 else "blackhole",
            )
    return None
