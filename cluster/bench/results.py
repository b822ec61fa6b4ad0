"""One system's row in the side-by-side result: figures, durability and notes that say
what limits them."""

from __future__ import annotations

import os
from typing import Any

from cluster.bench.phases import LATENCY_WRITERS, LatencyRun, Load
from cluster.bench.stats import summarize_ns


def _seconds(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else round((end_ns - start_ns) / 1e9, 3)


def rate(count: int, start_ns: int, end_ns: int | None) -> float | None:
    """Writes per second from the load's start to ``end_ns``; None if it never came."""
    if end_ns is None or end_ns <= start_ns:
        return None
    return round(count / ((end_ns - start_ns) / 1e9), 1)


def row(
    system: str,
    durability: str,
    load: Load,
    converged_ns: int | None,
    notes: list[str],
) -> dict[str, Any]:
    """One system's figures in the shape `cluster bench` merges into its own table."""
    if load.acked < load.writes:
        notes.insert(0, f"INCOMPLETE: {load.acked:,} of {load.writes:,} writes acked")
    if load.errors:
        notes.append(f"{load.errors} write errors, first: {load.first_error[:160]}")
    if converged_ns is None:
        notes.append("did not converge before the deadline")
    cores = load.cpu_s / load.seconds if load.seconds else 0.0
    notes.append(
        f"the busiest driver process used {cores:.2f} of {os.cpu_count()} cores during the"
        " load: near 1.0 means the client, not the server, set the pace"
    )
    row: dict[str, Any] = {
        "system": system,
        "durability": durability,
        "writes_acked": load.acked,
        "load_s": round(load.seconds, 3),
        "converge_s": _seconds(load.end_ns, converged_ns),
        "throughput_acked_per_s": round(load.acked / load.seconds, 1) if load.seconds else None,
        "throughput_converged_per_s": rate(load.acked, load.start_ns, converged_ns),
        "ack_latency_ms": summarize_ns(load.ack_ns),
        "driver_cpu_cores": round(load.cpu_s / load.seconds, 2) if load.seconds else None,
        "generator_cpu_per_write_us": round(load.cpu_total_s * 1e6 / load.acked)
        if load.acked
        else None,
        "latency_ms": None,
        "notes": notes,
    }
    return row


def attach_latency(row: dict[str, Any], latency: LatencyRun, how: str) -> None:
    v = latency.visibility
    row["latency_ms"] = summarize_ns(v.latencies_ns)
    row["latency_from_ack_ms"] = summarize_ns(v.from_ack_ns)
    row["latency_detail"] = {
        "writes": latency.writes,
        "errors": latency.errors,
        "achieved_rate_per_s": round(latency.achieved_rate, 1),
        "observed_via": how,
        "unseen": v.unseen,
        "arrived_before_ack": v.before_ack,
    }
    ack = row["latency_from_ack_ms"] or {}
    row["notes"].append(
        f"latency: {latency.writes} writes at {latency.achieved_rate:,.0f}/s from "
        f"{LATENCY_WRITERS} paced writers; first member to apply -> each other member, "
        f"seen via {how}; {v.unseen} (write, member) pairs never arrived"
        + (f"; {latency.errors} write errors" if latency.errors else "")
    )
    row["notes"].append(
        f"latency from the client's ack instead: p50 {ack.get('p50', '-')} p99 "
        f"{ack.get('p99', '-')} max {ack.get('max', '-')} ms ({v.before_ack} arrivals came "
        "before the ack and count 0)"
    )


def failed_row(system: str, durability: str, exc: BaseException) -> dict[str, Any]:
    return {
        "system": system,
        "durability": durability,
        "throughput_acked_per_s": None,
        "throughput_converged_per_s": None,
        "latency_ms": None,
        "error": str(exc),
        "notes": [f"FAILED: {str(exc)[:300]}"],
    }
