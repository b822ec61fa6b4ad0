"""Converged or not, and waiting for it: every running node holds the same digest and vv.

A snapshot is one row per node (``node``, ``digest``, ``vv``, ``keys``, or
``error``); these pure functions judge it and say how far apart the nodes are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from cluster.errors import ConvergeTimeout
from cluster.wait import WaitTimeout, wait_for

Snapshot = list[dict[str, Any]]


def wait_converged(
    snapshot: Callable[[], Snapshot],
    timeout: float,
    progress: Callable[[str], None] | None = None,
) -> float:
    """Poll ``snapshot`` until it is converged; the seconds it took, or ConvergeTimeout
    saying how far behind each node still is."""
    start = time.monotonic()
    last: Snapshot = []

    def same() -> bool:
        last[:] = snapshot()
        if progress:
            progress(f"converging: {len(last)} nodes, {spread(last)} entries apart")
        return converged(last)

    try:
        wait_for(same, timeout, "convergence", interval=0.01, max_interval=0.05)
    except WaitTimeout:
        raise ConvergeTimeout(
            f"not converged after {timeout:.1f}s:\n" + describe_difference(last), last
        ) from None
    return time.monotonic() - start


def converged(snap: Snapshot) -> bool:
    """Every node answered, holds the same digest *and* the same vv, and reports no fork.

    The digest alone is not enough: two nodes can hold the same winning versions
    while one still lacks entries that lost to them (its vv is behind), and those
    would be missing from its log and from everything it relays. Nor are equal vvs: a
    forged entry under another origin's seq (docs/integrity.md) leaves the vv equal.
    """
    return bool(snap) and all(
        "error" not in s
        and not s.get("forks")
        and (s["digest"], s["vv"]) == (snap[0]["digest"], snap[0]["vv"])
        for s in snap
    )


def left_out(
    members: Sequence[str], took_part: Sequence[str], state_of: Callable[[str], str]
) -> dict[str, str]:
    """Members that took no part in a check, each with why (paused, down, unreachable):
    "converged" over the running nodes says nothing about these, so it must name them."""
    return {n: why(state_of(n)) for n in members if n not in took_part}


def why(state: str) -> str:
    """A process state (``Cluster.process_state``) as the reason a node was left out."""
    if state == "PAUSED":
        return "paused"
    if state.startswith("unknown"):
        return f"unreachable: {state}"
    return f"down: {state}"


def left_out_line(left: dict[str, str]) -> str:
    """``node-c (paused), node-d (down (STOPPED))``."""
    return ", ".join(f"{n} ({reason})" for n, reason in left.items())


def fork_line(fork: Any) -> str:
    """A ``Fork`` a node reports (``pb.Fork``), as one line."""
    return (
        f"fork of {fork.origin} at seq {fork.seq} with {','.join(fork.peers)}: {fork.verdict}"
    )


def spread(snap: Snapshot) -> int:
    """Entries between the least and the most advanced node, summed over origins."""
    vvs = [s["vv"] for s in snap if "vv" in s]
    if not vvs:
        return 0
    origins = {o for vv in vvs for o in vv}
    return sum(max(vv.get(o, 0) for vv in vvs) - min(vv.get(o, 0) for vv in vvs) for o in origins)


def describe_difference(snap: Snapshot) -> str:
    """Per node: digest, and per origin how far behind the most advanced node it is.

    "up to date" only when nothing differs: no node behind it, no fork reported anywhere,
    and every answering node holds its digest (issue 25: never while digests differ)."""
    vvs = [s["vv"] for s in snap if "vv" in s]
    origins = sorted({o for vv in vvs for o in vv})
    top = {o: max(vv.get(o, 0) for vv in vvs) for o in origins}
    digests = {s["digest"] for s in snap if "digest" in s}
    anywhere = any(s.get("forks") for s in snap)
    lines = []
    for s in snap:
        if "error" in s:
            lines.append(f"  {s['node']}: {s['error']}")
            continue
        behind = {o: top[o] - s["vv"].get(o, 0) for o in origins if top[o] > s["vv"].get(o, 0)}
        forks = s.get("forks") or []
        where = "; ".join(forks) or (f"behind {behind}" if behind else "")
        twins = [
            t["node"] for t in snap if t.get("vv") == s["vv"] and t.get("digest") != s["digest"]
        ]
        if not where and twins:
            where = (
                f"same vv as {','.join(twins)}, other digest: two contents for one (origin, seq)?"
            )
        elif not where and (len(digests) > 1 or anywhere):
            where = "holds every entry seen; others differ"
        lines.append(
            f"  {s['node']}: digest {s['digest'][:12]} keys {s['keys']} {where or 'up to date'}"
        )
    return "\n".join(lines)
