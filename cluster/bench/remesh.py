"""``cluster bench`` on remesh: replication latency, throughput, catch-up, heal, fan-out, startup.

Every figure is measured on the machine's one clock: write and apply times come
from the nodes' own ``Watch`` streams, so a latency is "applied at the replica"
minus "committed at the origin", with no client round trip in it.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cluster.api import Cluster
from cluster.backends.procfs import cpu_seconds
from cluster.bench.apply import bench_apply
from cluster.bench.config import BenchConfig
from cluster.bench.disk import bench_bootstrap, bench_soak_disk
from cluster.bench.driver import Target, Work, paced, paced_keys
from cluster.bench.floor import bench_floor
from cluster.bench.load import Watchers, load, load_run
from cluster.bench.machine import machine_info
from cluster.bench.stats import percentiles
from cluster.catalog import builtin_path
from cluster.wait import wait_for


def bench_latency(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    """Replication latency at each rate in ``cfg.rates``: open-loop writes to the first
    node from generator processes (one ``Put`` per request up to 1,000/s, or one
    ``Writes`` stream message with ``cfg.stream``; ``PutBatch`` of rate/1,000 above),
    timed by every node's ``Watch`` stream."""
    nodes = c.running_nodes()
    origin = nodes[0]
    results = {}
    for rate in cfg.rates:
        prefix = f"lat/{rate}/"
        w = Watchers(c, nodes, prefix.encode())

        # A Watch stream sends nothing until a change: write a marker and wait for it
        # everywhere, so every stream is registered before the measured writes.
        def marker(i: int, p: bytes = prefix.encode()) -> object:
            return c.write(origin, p + b"ready-%d" % i, b"")

        w.ready(marker, prefix.encode() + b"ready-")
        work = Work(prefix, 0, max(1, round(rate * 0.001)), cfg.value_size, stream=cfg.stream)
        progress(f"latency @{rate}/s for {cfg.latency_seconds:.0f}s")
        run = paced(
            Target(origin, c.address(origin)),
            work,
            rate,
            cfg.latency_seconds,
            cfg.clients,
            c.credentials(),
        )
        keys = paced_keys(work, run)
        w.wait_all(keys, 60)
        w.close()
        committed = w.applied[origin]
        per_node = {}
        for node in nodes[1:]:
            per_node[node] = [(w.applied[node][k] - committed[k]) / 1e6 for k in keys]
        all_ms = [v for vs in per_node.values() for v in vs]
        results[str(rate)] = {
            **run.summary(),
            "origin": origin,
            "all_ms": percentiles(all_ms),
            "per_node_ms": {n: percentiles(v) for n, v in per_node.items()},
            "_samples": per_node,
        }
        if run.behind:
            progress(f"WARNING latency @{rate}/s: {run.behind}: the figure is not at that rate")
    return results


def process_cpu(c: Cluster) -> dict[str, float]:
    """CPU seconds each of the cluster's processes (nodes, link proxy) has used so far."""
    out = {}
    for name, info in c.processes().items():
        used = cpu_seconds(info.pid) if info.pid else None
        if used is not None:
            out[name] = used
    return out


def cpu_per_write(before: dict[str, float], after: dict[str, float], writes: int) -> dict:
    """Microseconds of CPU per write, the nodes together and the link proxy: the cost of a
    write that a busy shared machine does not hide (a rate does)."""
    used = {n: after[n] - before[n] for n in after if n in before}
    proxy = sum(v for n, v in used.items() if "proxy" in n)
    nodes = sum(used.values()) - proxy
    return {
        "nodes_cpu_us_per_write": round(nodes * 1e6 / writes, 1) if writes else None,
        "proxy_cpu_us_per_write": round(proxy * 1e6 / writes, 1) if writes else None,
    }


def bench_throughput(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    nodes = c.running_nodes()
    max_lag = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal max_lag
        while not stop.is_set():
            try:
                lag = sum(p.lag for n in nodes for p in c.node_status(n).peers)
                max_lag = max(max_lag, lag)
            except Exception:  # noqa: BLE001 - a sample lost under load is fine
                pass
            stop.wait(0.5)

    snapshots0 = snapshots(c, nodes)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    progress(
        f"throughput: {cfg.clients} clients x batch {cfg.batch} for {cfg.throughput_seconds:.0f}s"
    )
    cpu0 = process_cpu(c)
    run = load_run(c, nodes, cfg.clients, cfg.throughput_seconds, 0, cfg, "tp/")
    acked, took = run.acked, run.seconds
    stop.set()
    sampler.join()
    conv = c.converge(600)
    cost = cpu_per_write(cpu0, process_cpu(c), acked)
    return {
        "clients": cfg.clients,
        "batch": cfg.batch,
        "acked": acked,
        "load_seconds": round(took, 3),
        "acked_per_s": round(acked / took),
        "converge_after_load_s": round(conv, 3),
        "converged_per_s": round(acked / (took + conv)),
        "max_lag_entries": max_lag,
        # a replica this far behind is sent the state (snapshot_lag_ratio): said, not hidden
        "snapshots": snapshots(c, nodes) - snapshots0,
        "concurrency": cfg.concurrency,
        **cost,
        **run.summary(),
    }


def snapshots(c: Cluster, nodes: list[str]) -> int:
    return sum(c.node_status(n).snapshots_received for n in nodes)


def bench_catchup(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    nodes = c.running_nodes()
    laggard, writers = nodes[-1], nodes[:-1]
    had = sum(c.node_status(laggard).vv.values())
    c.stop(laggard)
    progress(f"catch-up: writing {cfg.catchup_entries} entries while {laggard} is stopped")
    acked, took = load(c, writers, cfg.clients, 3600, cfg.catchup_entries, cfg, "cu/")
    c.converge(600)
    before = sum(c.node_status(writers[0]).vv.values())
    progress(f"catch-up: starting {laggard}")
    start = time.monotonic()
    c.start(laggard, wait=False)
    wait_for(lambda: c.serving(laggard), 60, f"{laggard} to serve")
    serving = time.monotonic() - start
    lag_start = before - had
    conv = c.converge(600)
    st = c.node_status(laggard)
    return {
        "node": laggard,
        "entries_written": acked,
        "write_seconds": round(took, 3),
        "entries_behind": lag_start,
        "startup_s": round(serving, 3),
        "catchup_s": round(conv, 3),  # from serving to converged
        # The rate is from the node's start: a node catches up while it starts (a small
        # gap, or a snapshot, can be done before it serves), so from serving overstates.
        "start_to_converged_s": round(serving + conv, 3),
        "entries_per_s": round(lag_start / (serving + conv)),
        "entries_received": st.entries_received,
        "duplicates_received": st.duplicates_received,
        # a node far behind is sent the state instead of the log (snapshot_lag_ratio)
        "snapshots_received": st.snapshots_received,
    }


def bench_heal(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    nodes = c.running_nodes()
    half = max(1, len(nodes) // 2)
    left, right = nodes[:half], nodes[half:]
    c.partition([left, right])
    try:
        return _measure_heal(c, cfg, progress, nodes, left, right)
    finally:
        c.heal()  # also when stopped half-way: the bench leaves no partition behind


def _measure_heal(
    c: Cluster,
    cfg: BenchConfig,
    progress: Callable[[str], None],
    nodes: list[str],
    left: list[str],
    right: list[str],
) -> dict:
    wait_for(
        lambda: all(
            not p.connected for p in c.node_status(left[0]).peers if p.peer in right and p.address
        ),
        10,
        "the partition to be seen",
    )
    progress(f"heal: {cfg.heal_writes} writes on each side of {left}|{right}")
    load(c, left, max(1, cfg.clients // 2), 600, cfg.heal_writes, cfg, "hl/l")
    load(c, right, max(1, cfg.clients // 2), 600, cfg.heal_writes, cfg, "hl/r")
    start = time.monotonic()
    c.heal()
    wait_for(
        lambda: all(all(p.connected for p in c.node_status(n).peers if p.address) for n in nodes),
        30,
        "every link up after heal",
    )
    links = time.monotonic() - start
    conv = c.converge(600) + links
    return {
        "sides": [left, right],
        "writes_per_side": cfg.heal_writes,
        "links_up_s": round(links, 3),
        "converge_s": round(conv, 3),
        "transfer_s": round(conv - links, 3),
    }


def sent_per_write(c: Cluster, writes: int, cfg: BenchConfig) -> float:
    nodes = c.running_nodes()
    c.wait_ready()
    before = sum(c.node_status(n).entries_sent for n in nodes)
    acked, _ = load(c, nodes, len(nodes), 600, writes, cfg, "fo/")
    c.converge(120)
    return (sum(c.node_status(n).entries_sent for n in nodes) - before) / acked


def bench_startup(cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="remesh-bench-") as home:
        for name in ("mesh3", "mesh5", "ring5"):
            progress(f"startup: {name}")
            start = time.monotonic()
            c = Cluster.up(builtin_path(name), home=home)
            took = time.monotonic() - start
            try:
                fan = sent_per_write(c, cfg.fanout_writes, cfg)
            finally:
                c.down(purge=True)
            out[name] = {
                "up_s": round(took, 3),
                "nodes": len(c.topology.nodes),
                "entries_sent_per_write": round(fan, 3),
            }
    return out


def run_bench(
    c: Cluster | None,
    cfg: BenchConfig,
    sections: list[str],
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": machine_info(Path.cwd()), "config": asdict(cfg)}
    if c is not None:
        settings = c.topology.nodes[0].settings
        result["cluster"] = {
            "name": c.name,
            "nodes": len(c.topology.nodes),
            "shape": c.topology.shape,
            "durability": settings.durability,
            "proxies": c.topology.proxies,
        }
        for name, fn in (
            ("latency", bench_latency),
            ("throughput", bench_throughput),
            ("heal", bench_heal),
            ("catchup", bench_catchup),
        ):
            if name in sections:
                result[name] = fn(c, cfg, progress)
        if "fanout" in sections:
            progress("fan-out: entries sent per write")
            result["fanout"] = {
                "entries_sent_per_write": round(sent_per_write(c, cfg.fanout_writes, cfg), 3),
                "ideal": len(c.topology.nodes) - 1 if c.topology.shape == "full-mesh" else None,
            }
    if "startup" in sections:
        result["startup"] = bench_startup(cfg, progress)
    if "bootstrap" in sections:
        result["bootstrap"] = bench_bootstrap(cfg, progress)
    if "soak-disk" in sections:
        result["soak-disk"] = bench_soak_disk(cfg, progress)
    if "floor" in sections:
        progress("floor: what gRPC alone costs per call and per stream message")
        result["floor"] = bench_floor()
    if "apply" in sections:
        progress("apply: what applying one replicated entry costs, stage by stage")
        result["apply"] = bench_apply(cfg.apply_entries, cfg.value_size, cfg.keys)
    return result
