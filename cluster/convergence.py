"""Converged or not: every running node holds the same digest and version vector.

A snapshot is one row per node (``node``, ``digest``, ``vv``, ``keys``, or
``error``); these pure functions judge it and say how far apart the nodes are.
"""

from __future__ import annotations

from typing import Any

Snapshot = list[dict[str, Any]]


def converged(snap: Snapshot) -> bool:
    """Every node answered and holds the same digest and vv."""
    return bool(snap) and all(
        "error" not in s and (s["digest"], s["vv"]) == (snap[0]["digest"], snap[0]["vv"])
        for s in snap
    )


def spread(snap: Snapshot) -> int:
    """Entries between the least and the most advanced node, summed over origins."""
    vvs = [s["vv"] for s in snap if "vv" in s]
    if not vvs:
        return 0
    origins = {o for vv in vvs for o in vv}
    return sum(max(vv.get(o, 0) for vv in vvs) - min(vv.get(o, 0) for vv in vvs) for o in origins)


def describe_difference(snap: Snapshot) -> str:
    """Per node: digest, and per origin how far behind the most advanced node it is."""
    vvs = [s["vv"] for s in snap if "vv" in s]
    origins = sorted({o for vv in vvs for o in vv})
    top = {o: max(vv.get(o, 0) for vv in vvs) for o in origins}
    lines = []
    for s in snap:
        if "error" in s:
            lines.append(f"  {s['node']}: {s['error']}")
            continue
        behind = {o: top[o] - s["vv"].get(o, 0) for o in origins if top[o] > s["vv"].get(o, 0)}
        lines.append(
            f"  {s['node']}: digest {s['digest'][:12]} keys {s['keys']} "
            + (f"behind {behind}" if behind else "up to date")
        )
    return "\n".join(lines)
