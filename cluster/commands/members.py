"""Members of a cluster that is up: ``add`` and ``remove``."""

from __future__ import annotations

import argparse

from cluster.argtypes import seconds
from cluster.commands import AddVerb, open_cluster, waits
from cluster.commands.output import Progress


def _links(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def add(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    progress = Progress()
    try:
        took = c.add(args.node, _links(args.links), timeout=args.timeout, progress=progress)
    finally:
        progress.done()
    peers = ", ".join(c.topology.peers(args.node))
    print(f"{args.node} added to {c.name} and caught up in {took:.1f}s (peers: {peers})")
    return 0


def remove(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    progress = Progress()
    try:
        c.remove(args.node, force=args.force, timeout=args.timeout, progress=progress)
    finally:
        progress.done()
    held = "without checking its entries (--force)" if args.force else "every entry held"
    print(f"{args.node} removed from {c.name}, {held}; nodes: {', '.join(c.topology.names())}")
    return 0


def register(add_verb: AddVerb) -> None:
    sp = waits(
        add_verb("add", add, "add a node to the cluster that is up; returns once it caught up")
    )
    sp.add_argument("node")
    sp.add_argument(
        "--links",
        help="comma list of the nodes it links to (default: per the topology's shape; "
        "required when the topology lists its links)",
    )
    sp.add_argument("--timeout", type=seconds, default=120)
    sp = waits(
        add_verb(
            "remove",
            remove,
            "decommission a node, wait until the others hold its writes, stop and drop it",
        )
    )
    sp.add_argument("node")
    sp.add_argument(
        "--force", action="store_true", help="skip the check (entries only it holds are lost)"
    )
    sp.add_argument("--timeout", type=seconds, default=60)
