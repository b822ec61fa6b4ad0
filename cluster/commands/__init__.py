"""The ``cluster`` verbs: one module per verb or small family, each registering its own.

Each module has ``register(add)``: ``add(name, run, help)`` creates the verb's
subparser (the shared ``--home``, ``--cluster`` and ``--json`` included) and
returns it for the verb's own arguments; ``run(args)`` returns the exit code.
``cluster.cli`` assembles them and is the one place errors become exit codes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from cluster.api import Cluster

Run = Callable[[argparse.Namespace], int]
AddVerb = Callable[[str, Run, str], argparse.ArgumentParser]


def open_cluster(args: argparse.Namespace) -> Cluster:
    """The cluster a verb acts on: ``--cluster`` under ``--home`` (or the only one)."""
    return Cluster.open(args.cluster, args.home)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0 (argparse turns the error into exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def int_list(text: str) -> list[int]:
    """``1000,10000``: positive whole numbers, comma-separated."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, e.g. 1000,10000; got {text!r}"
        ) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def key_bytes(text: str) -> bytes:
    """A key as the user typed it: the command line's own bytes, so a key that is not
    UTF-8 (or not text at all) round-trips instead of failing to encode."""
    return os.fsencode(text)
