"""What ``report.html`` shows, computed from a run's history and timeline (pure: no drawing).

``build`` turns the recorded operations and fault timeline into the numbers behind
each picture: completed operations per second per bucket, split ok / fail / info;
each operation's latency at the time it was invoked; the fault windows (what, when,
until when); the final heal and when the nodes converged. ``cluster.nemesis.drawing``
draws them; the unit test checks them on a small recorded history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cluster.history import Op
from cluster.nemesis.kinds import KINDS

OUTCOMES = ("ok", "fail", "info")
MAX_BUCKETS = 150  # a long soak gets wider buckets, not an unreadable comb
# The one definition of a run's convergence, for the CLI, summary.json and report.html.
CONVERGENCE_MEANS = (
    "from every fault undone and the workload stopped until every node held the same "
    "state (cluster converge)"
)


def convergence_text(seconds: float | None) -> str:
    """``convergence_seconds`` as the CLI and report.html both show it."""
    return "not converged" if seconds is None else f"{seconds:.3f} s"


@dataclass(frozen=True)
class Window:
    """A fault in force from ``start`` to ``end`` (seconds since the run began)."""

    kind: str
    label: str
    start: float
    end: float
    lane: int = 0  # the row of the fault chart it is drawn in (overlapping faults differ)


@dataclass
class ReportData:
    bucket_s: float
    starts: list[float]  # each bucket's start
    rates: dict[str, list[float]]  # outcome -> completed ops/s in each bucket
    latencies: dict[str, list[tuple[float, float]]]  # outcome -> (invoked at, seconds)
    windows: list[Window]
    end: float  # the run's last recorded moment
    final_heal: float | None = None  # the last fault's end (faults all undone)
    converged_at: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def convergence_s(self) -> float | None:
        """The run's convergence (``CONVERGENCE_MEANS``), as summary.json has it."""
        return self.summary.get("convergence_seconds")


def bucket_size(span: float) -> float:
    """1 s up to MAX_BUCKETS seconds, then a round width that keeps MAX_BUCKETS buckets."""
    if span <= MAX_BUCKETS:
        return 1.0
    for width in (2, 5, 10, 15, 30, 60, 120, 300, 600):
        if span / width <= MAX_BUCKETS:
            return float(width)
    return float(math.ceil(span / MAX_BUCKETS))


def label(action: str, detail: dict[str, Any]) -> str:
    node = detail.get("node", "")
    if action == "partition":  # its colour says partition; the shape says which
        mode = detail.get("mode", "blackhole")
        return f"{detail.get('shape', 'partition')}" + ("" if mode == "blackhole" else f" ({mode})")
    if action == "clock":
        return f"clock {node} {int(detail.get('offset_ms', 0)):+d} ms"
    if action == "membership":
        return f"{detail.get('change', 'member')} {node}"
    return f"{action} {node}".strip()


def fault_windows(timeline: list[dict[str, Any]], end: float) -> list[Window]:
    """Pair each fault with the action that ended it; one never ended closes at ``end``
    (or at ``restored``, which undoes everything)."""
    open_: list[tuple[str, str, str, float]] = []  # kind, node, label, start
    done: list[tuple[str, str, float, float]] = []
    for event in timeline:
        action, t = event.get("action", ""), float(event.get("time", 0.0))
        detail = event.get("detail") or {}
        if action in KINDS:  # a fault began: its kind says which action ends it
            open_.append((action, detail.get("node", ""), label(action, detail), t))
            continue
        if action == "restored":
            done += [(k, lab, s, t) for k, _, lab, s in open_]
            open_ = []
            continue
        for i, (kind, node, lab, start) in enumerate(open_):
            ends = KINDS[kind]
            if ends.ends == action and (not ends.per_node or node == detail.get("node", "")):
                done.append((kind, lab, start, t))
                del open_[i]
                break
    done += [(k, lab, s, end) for k, _, lab, s in open_]
    return _lanes(sorted(done, key=lambda w: (w[2], w[3])))


def _lanes(windows: list[tuple[str, str, float, float]]) -> list[Window]:
    """Give each window the lowest row free at its start, so overlapping ones stack."""
    lane_ends: list[float] = []
    out = []
    for kind, lab, start, end in windows:
        lane = next((i for i, e in enumerate(lane_ends) if e <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        else:
            lane_ends[lane] = end
        out.append(Window(kind, lab, start, end, lane))
    return out


def build(
    ops: list[Op],
    timeline: list[dict[str, Any]],
    summary: dict[str, Any] | None = None,
    bucket_s: float | None = None,
) -> ReportData:
    invoked = {o.id: o.time for o in ops if o.type == "invoke"}
    done = [o for o in ops if o.type in OUTCOMES]
    end = max([o.time for o in ops] + [float(e.get("time", 0.0)) for e in timeline] + [0.0])
    width = bucket_s or bucket_size(end)
    n = max(1, math.ceil(end / width))
    counts = {t: [0] * n for t in OUTCOMES}
    latencies: dict[str, list[tuple[float, float]]] = {t: [] for t in OUTCOMES}
    for o in done:
        counts[o.type][min(n - 1, int(o.time // width))] += 1
        if o.id in invoked:
            latencies[o.type].append((invoked[o.id], max(0.0, o.time - invoked[o.id])))
    windows = fault_windows(timeline, end)
    converged = [float(e["time"]) for e in timeline if e.get("action") == "converged"]
    return ReportData(
        bucket_s=width,
        starts=[i * width for i in range(n)],
        rates={t: [c / width for c in counts[t]] for t in OUTCOMES},
        latencies=latencies,
        windows=windows,
        end=end,
        final_heal=max((w.end for w in windows), default=None),
        converged_at=converged[-1] if converged else None,
        summary=dict(summary or {}),
    )
