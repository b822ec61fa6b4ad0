"""A histogram for the event loop's hot path: a bisect and three additions per value.

prometheus_client's own Histogram takes a lock on every observation; the node's
counters live on one thread (the event loop) and are read through a snapshot taken
on that thread (``node.observability.exposition``), so they need none. Fixed buckets, fixed memory.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

# Seconds: from a tenth of a millisecond (a local commit) to a minute (a healed partition).
SECONDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# Entries in one commit: a lone write up to a full group commit (4096) or replicated batch.
ENTRIES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class HistogramSnapshot:
    """Cumulative counts per upper bound (the last is +Inf), their sum and count."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


class Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_many(self, value: float, times: int) -> None:
        """``times`` observations of one value (a batch whose entries share it)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.total += value * times

    def snapshot(self) -> HistogramSnapshot:
        running, cumulative = 0, []
        for n in self.counts:
            running += n
            cumulative.append(running)
        return HistogramSnapshot((*self.bounds, float("inf")), tuple(cumulative), self.total)
