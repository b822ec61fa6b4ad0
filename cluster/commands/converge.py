"""``converge``: wait until every running node holds the same state; exit 1 if not in time."""

from __future__ import annotations

import argparse
import json

from cluster.commands import AddVerb, open_cluster
from cluster.commands.output import Progress
from cluster.errors import ConvergeTimeout


def converge(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    progress = Progress()
    try:
        took = c.converge(args.timeout, progress=progress)
    except ConvergeTimeout as exc:
        progress.done()
        if args.json:
            print(json.dumps({"converged": False, "nodes": exc.report}, indent=2))
        raise
    progress.done()
    snap = c.snapshot()
    if args.json:
        print(json.dumps({"converged": True, "seconds": round(took, 4), "nodes": snap}, indent=2))
    else:
        print(
            f"converged in {took:.2f}s: {len(snap)} nodes, digest "
            f"{snap[0]['digest'][:12]}, {snap[0]['keys']} keys"
        )
    return 0


def register(add: AddVerb) -> None:
    sp = add("converge", converge, "wait until every running node has the same state")
    sp.add_argument("--timeout", type=float, default=60)
