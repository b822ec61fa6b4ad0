"""Hybrid logical clock: 48-bit physical milliseconds, 16-bit logical counter.

Packed into one int (``ms << 16 | counter``) so versions compare as plain
integers. The clock never runs backwards and moves past every timestamp it
has seen, so a write made after observing another always carries a larger
timestamp and wins over it under last-writer-wins.

It never wraps: a timestamp past 48 bits of milliseconds is refused
(``ClockError``), so one bad entry cannot push every node's clock to the end of
time. Replicas refuse entries dated too far ahead before observing them (see
``max_clock_skew_ms``); this is the last line.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from node.protocol.hlc import (
    LOGICAL_BITS,
    LOGICAL_MASK,
    MAX_HLC,
    MAX_PHYSICAL,
    ClockError,
    pack,
    unpack,
)

__all__ = [
    "HLC",
    "LOGICAL_BITS",
    "LOGICAL_MASK",
    "MAX_HLC",
    "MAX_PHYSICAL",
    "ClockError",
    "pack",
    "unpack",
    "wall_ms",
]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class HLC:
    """A hybrid logical clock; physical time is injected so tests control it."""

    def __init__(self, last: int = 0, physical: Callable[[], int] = wall_ms) -> None:
        if not 0 <= last <= MAX_HLC:
            raise ClockError(f"stored clock {last} is out of range (max {MAX_HLC})")
        self._last = last
        self._physical = physical

    def physical(self) -> int:
        """This node's physical time in ms (wall clock plus any test offset)."""
        return self._physical()

    @property
    def last(self) -> int:
        return self._last

    def now(self) -> int:
        """Timestamp for a local event: larger than every timestamp seen so far."""
        return self._advance(0)

    def observe(self, remote: int) -> None:
        """Merge a received timestamp so later local events order after it."""
        if not 0 <= remote <= MAX_HLC:
            raise ClockError(f"timestamp {remote} is out of range (max {MAX_HLC})")
        if remote > self._last:
            self._advance(remote)

    def _advance(self, remote: int) -> int:
        pt = min(self._physical(), MAX_PHYSICAL)
        last_ms, last_c = unpack(self._last)
        rem_ms, rem_c = unpack(remote)
        ms = max(last_ms, rem_ms, pt)
        if ms == last_ms and ms == rem_ms:
            c = max(last_c, rem_c) + 1
        elif ms == last_ms:
            c = last_c + 1
        elif ms == rem_ms:
            c = rem_c + 1
        else:
            c = 0
        if c > LOGICAL_MASK:  # counter overflow: borrow the next millisecond
            ms, c = ms + 1, 0
        if ms > MAX_PHYSICAL:
            raise ClockError("the clock reached 2^48 ms and cannot move on")
        self._last = pack(ms, c)
        return self._last
