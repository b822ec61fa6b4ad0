"""The keys a bench run leaves in a cluster that was up before it, and deleting them.

A run brought up for the bench is purged with its data; one against "the cluster that
is up" leaves every key it wrote (about 110,000 with the default sections). They are
counted and named after the run, and ``--cleanup`` deletes them. Only prefixes that held
no key before the run are deleted (a key already there may be someone else's), and a
delete writes a tombstone: they stay until every member acknowledged them and
``tombstone_grace_ms`` passed (docs/compaction.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cluster.api import Cluster

# Every prefix a section that needs a cluster writes under (cluster/bench/remesh.py).
PREFIXES = ("lat/", "tp/", "cu/", "hl/", "fo/")
DELETE_BATCH = 500


def occupied(c: Cluster) -> set[str]:
    """The prefixes that already hold a key (before the run): never deleted."""
    node = c.running_nodes()[0]
    return {p for p in PREFIXES if c.scan(node, p.encode(), limit=1)}


def left(c: Cluster) -> dict[str, int]:
    """Live keys under each bench prefix, at the first running node."""
    node = c.running_nodes()[0]
    return {p: n for p in PREFIXES if (n := len(c.scan(node, p.encode())))}


def delete(c: Cluster, prefixes: Iterable[str], progress: Callable[[str], None]) -> int:
    """Delete every key under ``prefixes`` in batches; the number deleted."""
    node, done = c.running_nodes()[0], 0
    for p in prefixes:
        keys = [item.key for item in c.scan(node, p.encode())]
        for i in range(0, len(keys), DELETE_BATCH):
            c.write_batch(node, [(k, None) for k in keys[i : i + DELETE_BATCH]])
            done += len(keys[i : i + DELETE_BATCH])
            progress(f"cleanup: {done:,} keys deleted")
    return done


def settle(
    c: Cluster, before: set[str], cleanup: bool, progress: Callable[[str], None]
) -> dict[str, Any]:
    """After a run on a cluster that was up: converge, count what is left, delete it
    when asked; what happened, for the result and the lines ``say`` prints."""
    c.converge(120)  # every section's writes have reached the node that is scanned
    keys = left(c)
    ours = {p: n for p, n in keys.items() if p not in before}
    deleted = delete(c, ours, progress) if cleanup and ours else 0
    if deleted:
        c.converge(120)
    return {
        "cluster": c.name,
        "keys": keys,
        "deleted": deleted,
        "cleanup": cleanup,
        "kept_prefixes": sorted(p for p in keys if p in before or not cleanup),
    }


def say(found: dict[str, Any]) -> list[str]:
    """What the bench tells the user about its keys (stderr)."""
    name, lines = found["cluster"], []
    if found["deleted"]:
        lines.append(
            f"bench: deleted the {found['deleted']:,} keys this run wrote in cluster {name}; "
            f"their tombstones stay until every member acknowledged them and "
            f"tombstone_grace_ms passed (docs/compaction.md)"
        )
    kept = found["kept_prefixes"]
    if kept and found["cleanup"]:
        lines.append(
            f"bench: kept the keys under {' '.join(kept)} in cluster {name}: those prefixes "
            f"held keys before the run, which may not be the bench's"
        )
    elif kept:
        total = sum(found["keys"][p] for p in kept)
        lines.append(
            f"bench: left {total:,} keys in cluster {name} under {' '.join(kept)} (what runs "
            f"wrote); --cleanup deletes a run's keys after it (their tombstones stay until "
            f"collected), `cluster down --purge` deletes everything"
        )
    return lines
