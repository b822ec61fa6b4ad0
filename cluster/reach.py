"""Can a topology work at all: every node reachable from every other, and ports enough.

A topology of islands (``links: []`` with several nodes, two disjoint groups) comes up
and never converges, and ``converge`` would wait without saying why; a 200-node full
mesh through the proxy needs ~40,000 ports. Both are refused when the file is read.
"""

from __future__ import annotations

MAX_PORTS = 20_000  # loopback ports below the kernel's ephemeral range, roughly


def islands(names: list[str], links: list[tuple[str, str]]) -> list[list[str]]:
    """The groups of nodes that can reach each other over ``links``, in node order."""
    group = {n: n for n in names}

    def find(n: str) -> str:
        while group[n] != n:
            group[n] = group[group[n]]
            n = group[n]
        return n

    for a, b in links:
        group[find(a)] = find(b)
    out: dict[str, list[str]] = {}
    for n in names:
        out.setdefault(find(n), []).append(n)
    return list(out.values())


def reach_problem(
    names: list[str], links: list[tuple[str, str]], proxies: bool, allow_disconnected: bool
) -> tuple[tuple[str], str] | None:
    """``(field, message)`` when the topology cannot work, else None."""
    groups = islands(names, links)
    if len(groups) > 1 and not allow_disconnected:
        shown = "; ".join(", ".join(g) for g in groups[:4])
        return ("links",), (
            f"the nodes form {len(groups)} groups that cannot reach each other ({shown}): "
            f"they would never converge; link them, or set allow_disconnected: true"
        )
    ports = len(names) + (2 * len(links) if proxies else 0)
    if ports > MAX_PORTS:
        via = " and one per directed link through the proxy" if proxies else ""
        return ("nodes",), (
            f"{len(names)} nodes and {len(links):,} links need {ports:,} ports (one per node"
            f"{via}); at most {MAX_PORTS:,}: use fewer nodes, sparser links or proxies: false"
        )
    return None
