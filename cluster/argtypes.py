"""Argument types for the command lines (``cluster`` and ``python -m cluster.bench.peers``):
a bad value is argparse's own error and exit 2, never a traceback further in."""

from __future__ import annotations

import argparse
import math
import os


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0 (argparse turns the error into exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1; ``20_000`` and ``20,000`` read as 20000."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < math.inf:
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
