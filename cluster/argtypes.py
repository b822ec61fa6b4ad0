"""Argument types for the command lines (``cluster`` and ``python -m cluster.bench.peers``):
a bad value is argparse's own error and exit 2, checked before anything is sent, never a
traceback or a refusal further in. Every numeric option uses one of these (a unit test
walks the parsers to prove none is a raw ``int`` or ``float``)."""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
NUMERIC: set[Callable[[str], object]] = set()  # every numeric type below, for that test

MAX_SECONDS = 7 * 86_400.0  # a week: past it, a wait is a typo (and overflows some waits)


def numeric(fn: Callable[[str], T]) -> Callable[[str], T]:
    """Register ``fn`` as a numeric argument type."""
    NUMERIC.add(fn)
    return fn


def _whole(text: str) -> int:
    """``20_000`` and ``20,000`` read as 20000; ``+5`` as 5."""
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def int_range(low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    """A type: a whole number from ``low`` to ``high`` (None: no upper bound)."""
    suffix = f" {unit}" if unit else ""

    @numeric
    def parse(text: str) -> int:
        value = _whole(text)
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a number from {low:,} to {high:,}{suffix}, got {value:,}"
            )
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number >= {low}{suffix}, got {value}")
        return value

    parse.__name__ = f"int_range({low}, {high})"
    return parse


non_negative_int = int_range(0)
positive_int = int_range(1)


@numeric
def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


@numeric
def seconds(text: str) -> float:
    """A timeout or an interval: above 0 and at most a week (``nan``, ``inf``, ``-1`` and
    ``1e300`` are typos, not waits)."""
    value = positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected seconds above 0 and at most {MAX_SECONDS:,.0f} (a week), got {text}"
        )
    return value


@numeric
def duration(text: str) -> float:
    """``30s``, ``2m``, ``45``, ``1.5s``, ``500ms`` -> seconds, above 0 and at most a week."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 2m or 45, got {text!r}")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected a duration of at most a week, got {text!r}")
    return value


@numeric
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
