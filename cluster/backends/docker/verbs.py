"""The Docker backend's own verbs: ``image build`` (the node image, built here, never
pulled) and ``gc`` (what Docker clusters that no longer exist left in the engine).
``cluster.cli`` adds them through ``cluster.backends.registry`` (``Traits.verbs``)."""

from __future__ import annotations

import argparse
import json

from cluster.backends.docker.backend import engine_errors
from cluster.backends.docker.engine import client
from cluster.backends.docker.image import ImageError, build_image
from cluster.backends.docker.sweep import sweep
from cluster.commands import AddVerb
from cluster.commands.output import timed
from cluster.errors import OperationFailed


def image(args: argparse.Namespace) -> int:
    try:
        info = build_image(progress=timed())
    except ImageError as exc:
        raise OperationFailed(str(exc)) from None
    if args.json:
        print(json.dumps({"tag": info.tag, "built": info.built, "seconds": info.seconds}))
    else:
        done = "built" if info.built else "up to date"
        print(f"{info.tag} {done} ({info.seconds:.1f}s)")
    return 0


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
    """The verbs the Docker backend adds to ``cluster``."""
    sp = add("image", image, "build the node image for the Docker backend (DOCKER_HOST's engine)")
    sp.add_argument("action", choices=["build"], help="build it if missing (a no-op otherwise)")
    sp = add(
        "gc",
        gc,
        "remove Docker containers, networks and volumes whose cluster's state directory is gone",
    )
    sp.add_argument("--dry-run", action="store_true", help="list, remove nothing")
