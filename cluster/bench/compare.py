"""remesh beside etcd and Redis under one workload (``cluster bench --peers``)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.bench.driver import REACHED
from cluster.bench.peers import run_peers
from cluster.bench.remesh import bench_latency, bench_throughput


class Variant(NamedTuple):
    """One remesh row: each sits beside the plain buffered row it costs against; the
    proxy-less rows price the fault proxies' relaying; the stream rows send single writes
    as Writes stream messages."""

    durability: str = "buffered"
    batched: bool = True
    tls: bool = False
    proxies: bool = True
    stream: bool = False


VARIANTS: tuple[Variant, ...] = (
    Variant(),
    Variant(tls=True),
    Variant("sync"),
    Variant(batched=False),
    Variant(batched=False, stream=True),
    Variant(batched=False, proxies=False),
    Variant(batched=False, proxies=False, stream=True),
    Variant(proxies=False),
)
SATURATED_CORES = 0.85  # a one-process driver this busy set the pace itself


def latency_rate(cfg: BenchConfig) -> int:
    """Writes/s offered in every system's latency row: the first of ``--rates``."""
    return cfg.rates[0] if cfg.rates else 1000


def _remesh_row(
    v: Variant, cfg: BenchConfig, home: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """remesh mesh3 in one mode: converged throughput, and latency at the first of --rates."""
    durability, tls, proxies, stream = v.durability, v.tls, v.proxies, v.stream
    batch = cfg.batch if v.batched else 1
    name = f"mesh3-{durability}" + ("-tls" if tls else "") + ("" if proxies else "-direct")
    topo = Path(home) / f"{name}.yaml"
    topo.write_text(
        f"name: {name}\nsettings: {{durability: {durability}}}\ntls: {str(tls).lower()}\n"
        f"proxies: {str(proxies).lower()}\nnodes: [node-a, node-b, node-c]\n"
    )
    c = Cluster.up(topo, home=home)
    try:
        rate = latency_rate(cfg)
        run = BenchConfig(**{**asdict(cfg), "batch": batch, "rates": [rate], "stream": stream})
        lat = bench_latency(c, run, progress)[str(rate)]  # first, on a quiet cluster
        tp = bench_throughput(c, run, progress)
    finally:
        c.down(purge=True)
    fsync = "fsync per group-committed batch" if durability == "sync" else "no fsync"
    single = "one write per Writes stream message" if stream else "one Put per request"
    return {
        "system": f"remesh {durability}"
        + ("" if batch > 1 else " unbatched")
        + (", Writes streams" if stream else "")
        + (" mutual TLS" if tls else "")
        + ("" if proxies else ", no link proxies"),
        "durability": f"{fsync}; origin acks alone, replicas apply asynchronously",
        "client": f"{cfg.clients} processes x {cfg.concurrency} in flight, "
        + (f"PutBatch of {batch}" if batch > 1 else single),
        "throughput_converged_per_s": tp["converged_per_s"],
        "throughput_acked_per_s": tp["acked_per_s"],
        "latency_ms": {k: lat["all_ms"][k] for k in ("p50", "p99", "max")},
        "latency_offered_per_s": lat["offered_per_s"],
        "latency_request": single,
        "generator_saturated": tp["generator_saturated"],
        "generator_cpu_per_write_us": tp["generator_cpu_per_write_us"],
        "nodes_cpu_us_per_write": tp["nodes_cpu_us_per_write"],
        "proxy_cpu_us_per_write": tp["proxy_cpu_us_per_write"],
        "behind": lat["behind"]
        or ("the load generator saturated a core" if tp["generator_saturated"] else ""),
    }


def bench_compare(cfg: BenchConfig, progress: Callable[[str], None], install: bool) -> dict:
    """remesh (buffered, buffered with mutual TLS, sync, unbatched) beside etcd and Redis
    under one workload."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="remesh-compare-") as home:
        for v in VARIANTS:
            progress(
                f"compare: remesh {v.durability} batch {cfg.batch if v.batched else 1}"
                + (" tls" if v.tls else "")
                + ("" if v.proxies else " no proxies")
                + (" streams" if v.stream else "")
            )
            rows.append(_remesh_row(v, cfg, home, progress))
    progress("compare: etcd and Redis")
    peers = run_peers(
        writes=20_000,
        value_size=cfg.value_size,
        keys=min(cfg.keys, 10_000),
        concurrency=cfg.clients * cfg.concurrency,  # as many in flight as remesh's rows
        processes=cfg.clients,
        latency_rate=latency_rate(cfg),
        install=install,
        log=progress,
    )
    for r in peers["systems"]:
        detail = r.get("latency_detail") or {}
        saturated = (r.get("driver_cpu_cores") or 0) >= SATURATED_CORES
        offered = detail.get("achieved_rate_per_s")
        behind = ""
        if offered is not None and offered < REACHED * latency_rate(cfg):
            behind = f"the latency writers offered {offered:,.0f} writes/s of {latency_rate(cfg):,}"
        elif saturated:
            behind = "the load generator saturated a core"
        rows.append(
            {
                **r,
                "client": f"{peers['workload']['processes']} processes x "
                f"{peers['workload']['concurrency'] // peers['workload']['processes']} threads, "
                + ("pipelines of 100" if "pipelin" in r["system"] else "one write per request"),
                "latency_offered_per_s": offered,
                "generator_saturated": saturated,
                "behind": behind,
            }
        )
    base = rows[0]["throughput_converged_per_s"]
    for r in rows:
        tp = r.get("throughput_converged_per_s")
        r["ratio_vs_remesh_buffered"] = round(tp / base, 2) if tp and base else None
    return {"rows": rows, "versions": peers["versions"], "peers_workload": peers["workload"]}
