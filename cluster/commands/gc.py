"""``gc``: sweep what Docker clusters that no longer exist left in the engine."""

from __future__ import annotations

import argparse
import json

from cluster.backends.docker.backend import engine_errors
from cluster.backends.docker.engine import client
from cluster.backends.docker.sweep import sweep
from cluster.commands import AddVerb


def gc(args: argparse.Namespace) -> int:
    with engine_errors("sweeping"):
        removed = sweep(client(), dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"removed": removed, "dry_run": args.dry_run}, indent=2))
    elif not removed:
        print("nothing to remove: every remesh container, network and volume has its cluster")
    else:
        verb = "would remove" if args.dry_run else "removed"
        for line in removed:
            print(f"{verb} {line}")
    return 0


def register(add: AddVerb) -> None:
    sp = add(
        "gc",
        gc,
        "remove Docker containers, networks and volumes whose cluster's state directory is gone",
    )
    sp.add_argument("--dry-run", action="store_true", help="list, remove nothing")
