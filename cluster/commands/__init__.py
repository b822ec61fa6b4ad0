"""The ``cluster`` verbs: one module per verb or small family, each registering its own.

Each module has ``register(add)``: ``add(name, run, help)`` creates the verb's
subparser (the shared ``--home``, ``--cluster`` and ``--json`` included) and
returns it for the verb's own arguments; ``run(args)`` returns the exit code.
``cluster.cli`` assembles them and is the one place errors become exit codes.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable

from cluster.api import Cluster

Run = Callable[[argparse.Namespace], int]
AddVerb = Callable[[str, Run, str], argparse.ArgumentParser]


LOCK_WAIT = 60.0  # --wait's bound for a verb without a --timeout of its own


def open_cluster(args: argparse.Namespace) -> Cluster:
    """The cluster a verb acts on: ``--cluster`` under ``--home`` (or the only one)."""
    c = Cluster.open(args.cluster, args.home)
    c.lock_wait = lock_wait(args)
    return c


def lock_wait(args: argparse.Namespace) -> float | None:
    """How long a verb waits for the cluster's lock: None (refuse at once) without --wait."""
    if not getattr(args, "wait", False):
        return None
    timeout = getattr(args, "timeout", None)
    return float(timeout) if timeout is not None else LOCK_WAIT


class Stopped(KeyboardInterrupt):
    """SIGTERM (say, from ``cluster down``): unwinds like Ctrl-C, so a long run undoes what
    it set on its way out."""


def on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the undo must not be cut short
    raise Stopped


def waits(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--wait`` for a verb that changes the cluster (it holds the cluster's lock)."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another verb is changing the cluster, wait for it (within --timeout, "
        f"else {LOCK_WAIT:g}s) instead of exiting 2 with 'busy'",
    )
    return parser
