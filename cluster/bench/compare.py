"""remesh beside etcd and Redis under one workload (``cluster bench --peers``)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.bench.peers import run_peers
from cluster.bench.remesh import bench_latency, bench_throughput

# (durability, batched, mutual TLS): the TLS row sits beside the plain one it costs against.
VARIANTS: tuple[tuple[str, bool, bool], ...] = (
    ("buffered", True, False),
    ("buffered", True, True),
    ("sync", True, False),
    ("buffered", False, False),
)


def _remesh_row(
    durability: str,
    batch: int,
    cfg: BenchConfig,
    home: str,
    progress: Callable[[str], None],
    tls: bool = False,
) -> dict[str, Any]:
    """remesh mesh3 in one durability mode: converged throughput and latency at 1,000/s."""
    name = f"mesh3-{durability}" + ("-tls" if tls else "")
    topo = Path(home) / f"{name}.yaml"
    topo.write_text(
        f"name: {name}\nsettings: {{durability: {durability}}}\ntls: {str(tls).lower()}\n"
        "nodes: [node-a, node-b, node-c]\n"
    )
    c = Cluster.up(topo, home=home)
    try:
        run = BenchConfig(**{**asdict(cfg), "batch": batch, "rates": [1000]})
        lat = bench_latency(c, run, progress)["1000"]["all_ms"]  # first, on a quiet cluster
        tp = bench_throughput(c, run, progress)
    finally:
        c.down(purge=True)
    fsync = "fsync per group-committed batch" if durability == "sync" else "no fsync"
    return {
        "system": f"remesh {durability}"
        + ("" if batch > 1 else " unbatched")
        + (" mutual TLS" if tls else ""),
        "durability": f"{fsync}; origin acks alone, replicas apply asynchronously",
        "client": f"{cfg.clients} processes, PutBatch of {batch}"
        if batch > 1
        else f"{cfg.clients} processes, one Put per request",
        "throughput_converged_per_s": tp["converged_per_s"],
        "throughput_acked_per_s": tp["acked_per_s"],
        "latency_ms": {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]},
    }


def bench_compare(cfg: BenchConfig, progress: Callable[[str], None], install: bool) -> dict:
    """remesh (buffered, buffered with mutual TLS, sync, unbatched) beside etcd and Redis
    under one workload."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="remesh-compare-") as home:
        for durability, batched, tls in VARIANTS:
            batch = cfg.batch if batched else 1
            progress(f"compare: remesh {durability} batch {batch}" + (" tls" if tls else ""))
            rows.append(_remesh_row(durability, batch, cfg, home, progress, tls))
    progress("compare: etcd and Redis")
    peers = run_peers(
        writes=20_000,
        value_size=cfg.value_size,
        keys=min(cfg.keys, 10_000),
        concurrency=16,
        install=install,
        log=progress,
    )
    for r in peers["systems"]:
        rows.append(
            {
                **r,
                "client": "16 threads, one write per request"
                + (" (pipelines of 100)" if "pipelin" in r["system"] else ""),
            }
        )
    base = rows[0]["throughput_converged_per_s"]
    for r in rows:
        tp = r.get("throughput_converged_per_s")
        r["ratio_vs_remesh_buffered"] = round(tp / base, 2) if tp and base else None
    return {"rows": rows, "versions": peers["versions"], "peers_workload": peers["workload"]}
