"""The hybrid logical clock's encoding: 48-bit physical milliseconds and a 16-bit
counter packed into one int, so versions compare as plain integers. Pure, so the
protocol can read a version's time without a clock (node/clock.py keeps the clock)."""

from __future__ import annotations

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
MAX_PHYSICAL = (1 << 48) - 1
MAX_HLC = (MAX_PHYSICAL << LOGICAL_BITS) | LOGICAL_MASK


class ClockError(ValueError):
    """A timestamp the clock cannot take without overflowing; nothing changed."""


def pack(ms: int, counter: int) -> int:
    return (ms << LOGICAL_BITS) | counter


def unpack(hlc: int) -> tuple[int, int]:
    return hlc >> LOGICAL_BITS, hlc & LOGICAL_MASK
