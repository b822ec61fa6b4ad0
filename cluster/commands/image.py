"""``image build``: the node image for the Docker backend, built here (never pulled)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cluster.commands import AddVerb
from cluster.docker_image import ImageError, ImageInfo, build_image
from cluster.errors import OperationFailed


def ensure_image() -> ImageInfo:
    """Build the image if missing, progress on stderr with the elapsed time; a failure is
    an ``OperationFailed`` naming the fix."""
    started = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr)

    try:
        return build_image(progress=say)
    except ImageError as exc:
        raise OperationFailed(str(exc)) from None


def image(args: argparse.Namespace) -> int:
    info = ensure_image()
    if args.json:
        print(json.dumps({"tag": info.tag, "built": info.built, "seconds": info.seconds}))
    else:
        done = "built" if info.built else "up to date"
        print(f"{info.tag} {done} ({info.seconds:.1f}s)")
    return 0


def register(add: AddVerb) -> None:
    sp = add("image", image, "build the node image for the Docker backend (DOCKER_HOST's engine)")
    sp.add_argument("action", choices=["build"], help="build it if missing (a no-op otherwise)")
