"""``cluster bench --scale``: the cost of a write as the cluster grows (mesh3, mesh5, mesh7).

Every shape is brought up in turn on the same machine and gets the same workload:
converged throughput (batched and one ``Put`` per request), replication latency at one
offered rate, and the work each write causes, counted by the nodes themselves: entries
sent over links and entries applied at replicas per write. In a full mesh both should be
N - 1 (every other node gets each write once); anything above that is redundant work.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.bench.remesh import bench_latency, bench_throughput
from cluster.catalog import builtin_path

SHAPES = ("mesh3", "mesh5", "mesh7")


def _work(c: Cluster) -> tuple[int, int, int]:
    """(local writes, entries sent, entries applied from peers), summed over the nodes."""
    writes = sent = applied = 0
    for n in c.running_nodes():
        st = c.node_status(n)
        writes += st.local_writes
        sent += st.entries_sent
        applied += st.entries_received
    return writes, sent, applied


def _per_write(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict[str, Any]:
    writes = after[0] - before[0]
    if not writes:
        return {"writes": 0}
    return {
        "writes": writes,
        "entries_sent_per_write": round((after[1] - before[1]) / writes, 3),
        "applies_per_write": round((after[2] - before[2]) / writes, 3),
    }


def bench_scale(cfg: BenchConfig, progress: Callable[[str], None]) -> dict[str, Any]:
    """Each of SHAPES, one after the other: throughput, latency and work per write."""
    out: dict[str, Any] = {}
    rate = cfg.rates[0] if cfg.rates else 1000
    with tempfile.TemporaryDirectory(prefix="remesh-scale-") as home:
        for shape in SHAPES:
            progress(f"scale: {shape}")
            c = Cluster.up(builtin_path(shape), home=home)
            try:
                lat = bench_latency(c, replace(cfg, rates=[rate]), progress)[str(rate)]
                before = _work(c)
                batched = bench_throughput(c, cfg, progress)
                work = _per_write(before, _work(c))
                single = bench_throughput(c, replace(cfg, batch=1), progress)
            finally:
                c.down(purge=True)
            n = len(c.topology.nodes)
            out[shape] = {
                "nodes": n,
                "ideal_per_write": n - 1,
                "converged_per_s": batched["converged_per_s"],
                "unbatched_converged_per_s": single["converged_per_s"],
                "nodes_cpu_us_per_write": batched["nodes_cpu_us_per_write"],
                "unbatched_nodes_cpu_us_per_write": single["nodes_cpu_us_per_write"],
                "latency_ms": {k: lat["all_ms"][k] for k in ("p50", "p99", "max")},
                "latency_offered_per_s": lat["offered_per_s"],
                "behind": lat["behind"],
                **work,
            }
    return out
