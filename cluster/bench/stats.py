"""Statistics every bench result uses: nearest-rank percentiles and replication latencies.

Pure: the remesh side and the etcd/Redis side share one definition of a
percentile (always a value that was measured) and of "replicated".
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence: always a value that was measured."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ns(values_ns: Iterable[int]) -> dict[str, float | int] | None:
    """p50/p99/max in milliseconds (3 decimals) and the sample count; None when empty."""
    ordered = sorted(values_ns)
    if not ordered:
        return None
    return {
        "p50": round(percentile(ordered, 50) / 1e6, 3),
        "p99": round(percentile(ordered, 99) / 1e6, 3),
        "max": round(ordered[-1] / 1e6, 3),
        "samples": len(ordered),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (the same definition as the etcd/Redis side)."""
    if not values:
        return {"n": 0}
    s = sorted(values)
    out = {f"p{q}": percentile(s, q) for q in (50, 90, 99)}
    return {"n": len(s), **out, "max": s[-1], "mean": statistics.fmean(s)}


@dataclass(frozen=True)
class Visibility:
    """Replication latencies of the paced writes, two ways, and what never arrived.

    ``latencies_ns``: from the write's first arrival anywhere (its commit point: the
    Redis primary, usually the etcd leader) to its arrival on each other member, both
    seen through the same kind of push stream, so the driver's own delays cancel out;
    this is `cluster bench`'s "committed at the origin -> applied at the replica".
    ``from_ack_ns``: from the client's ack to the arrival on each member other than the
    one that acked; arrivals before the ack count 0 (``before_ack`` of them).
    """

    latencies_ns: list[int]
    from_ack_ns: list[int]
    unseen: int
    before_ack: int


def visibility_latencies(
    writes: Sequence[tuple[int, int, int, int]],
    series: Sequence[Sequence[tuple[int, Sequence[int]]]],
) -> Visibility:
    """Find when each acknowledged write arrived on each member; see ``Visibility``.

    ``writes``: ``(ack_ns, stream, position, origin)``, origin being the member that
    acked; ``series[m]``: ``(time_ns, positions)`` samples of member ``m`` in time
    order. A member holds a write once its position in that stream reaches the write's
    (etcd revisions and each Redis writer's sequence only grow), so a binary search over
    the running maximum finds the arrival. ``unseen`` counts (write, member) pairs that
    never arrived.
    """
    index: list[list[tuple[list[int], list[int]]]] = []
    for samples in series:
        per_stream: dict[int, tuple[list[int], list[int]]] = {}
        for t, positions in samples:
            for s, pos in enumerate(positions):
                times, tops = per_stream.setdefault(s, ([], []))
                times.append(t)
                tops.append(max(pos, tops[-1]) if tops else pos)
        width = max(per_stream, default=-1) + 1
        index.append([per_stream.get(s, ([], [])) for s in range(width)])
    latencies: list[int] = []
    from_ack: list[int] = []
    unseen = before = 0
    for ack, stream, position, origin in writes:
        arrivals: list[tuple[int, int]] = []  # (time, member)
        for member, streams in enumerate(index):
            times, tops = streams[stream] if stream < len(streams) else ([], [])
            i = bisect.bisect_left(tops, position)
            if i == len(tops):
                unseen += 1
            else:
                arrivals.append((times[i], member))
        arrivals.sort()
        latencies.extend(t - arrivals[0][0] for t, _ in arrivals[1:])
        for t, member in arrivals:
            if member != origin:
                before += t < ack
                from_ack.append(max(0, t - ack))
    return Visibility(latencies, from_ack, unseen, before)
