"""``cluster bench``: replication latency, throughput, catch-up, heal time, fan-out, startup.

Every figure is measured on the machine's one clock: write and apply times come
from the nodes' own ``Watch`` streams (``applied_unix_ns``, the wall clock of the
machine every node shares), so a latency is "applied at the replica" minus
"committed at the origin", with no client round trip in it. Load comes from
client processes (spawned, one gRPC channel each) sending ``PutBatch`` requests,
so the Python client is not the single-threaded bottleneck.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from cluster.api import Cluster
from cluster.bench_peers import machine_info, percentile
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]
MAX_INFLIGHT = 256  # latency driver: outstanding requests before it waits (reported rate drops)
SECTIONS = ("latency", "throughput", "catchup", "heal", "fanout", "startup")


@dataclass
class BenchConfig:
    value_size: int = 100
    keys: int = 100_000
    rates: list[int] = field(default_factory=lambda: [1000, 10000])
    latency_seconds: float = 3.0
    throughput_seconds: float = 10.0
    clients: int = 4
    batch: int = 500
    catchup_entries: int = 1_000_000
    heal_writes: int = 10_000
    fanout_writes: int = 3000


def machine(data_dir: Path | None = None) -> dict[str, Any]:
    """Cores, CPU, kernel, filesystem and load: part of every result."""
    return machine_info(data_dir or Path.cwd())


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (the same definition as the etcd/Redis side)."""
    if not values:
        return {"n": 0}
    s = sorted(values)
    out = {f"p{q}": percentile(s, q) for q in (50, 90, 99)}
    return {"n": len(s), **out, "max": s[-1], "mean": statistics.fmean(s)}


# ------------------------------------------------------------------ watchers
class Watchers:
    """One Watch stream per node, recording when each key was applied there."""

    def __init__(self, c: Cluster, nodes: list[str], prefix: bytes) -> None:
        self.applied: dict[str, dict[bytes, int]] = {n: {} for n in nodes}
        self.calls = []
        self.threads = []
        self.channels = [grpc.insecure_channel(c.address(n)) for n in nodes]  # kept alive
        for n, channel in zip(nodes, self.channels, strict=True):
            call = pb_grpc.KVStub(channel).Watch(pb.WatchRequest(prefix=prefix))
            self.calls.append(call)
            t = threading.Thread(target=self._drain, args=(n, call), daemon=True)
            t.start()
            self.threads.append(t)

    def _drain(self, node: str, call) -> None:
        seen = self.applied[node]
        try:
            for msg in call:
                for change in msg.changes:
                    seen[change.entry.key] = change.applied_unix_ns
        except grpc.RpcError:
            pass

    def wait_all(self, keys: list[bytes], timeout: float) -> None:
        want = set(keys)
        wait_for(
            lambda: all(want <= set(s) for s in self.applied.values()),
            timeout,
            lambda: (
                "every key at every watcher: "
                + ", ".join(f"{n} {len(want - set(s))} missing" for n, s in self.applied.items())
            ),
        )

    def ready(
        self, write_marker: Callable[[int], object], marker: bytes, timeout: float = 10
    ) -> None:
        """Write markers until every stream has seen one: then all are registered."""
        i = 0

        def seen() -> bool:
            nonlocal i
            if all(any(k.startswith(marker) for k in s) for s in self.applied.values()):
                return True
            write_marker(i)
            i += 1
            return False

        wait_for(seen, timeout, "every Watch stream to see a marker write")

    def close(self) -> None:
        for call in self.calls:
            call.cancel()
        for channel in self.channels:
            channel.close()


# ------------------------------------------------------------------- clients
def _client(
    address: str,
    prefix: str,
    value_size: int,
    keys: int,
    batch: int,
    seconds: float,
    total: int,
    out,
) -> None:
    """A closed-loop writer: PutBatch until ``seconds`` pass or ``total`` writes are acked.

    Requests are built once and cycled, so the client spends its CPU on sending, not on
    building protobufs: on a 2-core machine clients share the cores with the nodes.
    """
    stub = pb_grpc.KVStub(grpc.insecure_channel(address))
    value = os.urandom(value_size // 2 + 1).hex()[:value_size].encode()
    requests = [
        pb.PutBatchRequest(
            writes=[
                pb.Write(op=pb.PUT, key=f"{prefix}{(i + j) % keys}".encode(), value=value)
                for j in range(batch)
            ]
        )
        for i in range(0, min(keys, 50 * batch), batch)
    ]
    deadline = time.monotonic() + seconds
    acked = i = 0
    while time.monotonic() < deadline and (not total or acked < total):
        request = requests[i % len(requests)]
        i += 1
        if total and total - acked < batch:
            request = pb.PutBatchRequest(writes=request.writes[: total - acked])
        stub.PutBatch(request, timeout=60)
        acked += len(request.writes)
    out.put(acked)


def load(
    c: Cluster,
    nodes: list[str],
    clients: int,
    seconds: float,
    total: int,
    cfg: BenchConfig,
    prefix: str,
) -> tuple[int, float]:
    """Run ``clients`` writer processes spread over ``nodes``; returns (acked, seconds)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    per = -(-total // clients) if total else 0
    procs = [
        ctx.Process(
            target=_client,
            args=(
                c.address(nodes[i % len(nodes)]),
                f"{prefix}{i}/",
                cfg.value_size,
                max(1, cfg.keys // clients),
                cfg.batch,
                seconds,
                per,
                out,
            ),
        )
        for i in range(clients)
    ]
    start = time.monotonic()
    for p in procs:
        p.start()
    results: list[int] = []
    deadline = start + seconds + 600
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(  # noqa: B904 - not caused by the Empty
                    f"{len(dead)} load client(s) failed (exit codes "
                    f"{[p.exitcode for p in dead]}); see their stderr above"
                )
    acked = sum(results)
    took = time.monotonic() - start
    for p in procs:
        p.join(30)
    return acked, took


# ------------------------------------------------------------------ sections
def bench_latency(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    nodes = c.running_nodes()
    origin = nodes[0]
    results = {}
    for rate in cfg.rates:
        prefix = f"lat/{rate}/".encode()
        w = Watchers(c, nodes, prefix)
        # A Watch stream sends nothing until a change: write a marker and wait for it
        # everywhere, so every stream is registered before the measured writes.
        w.ready(lambda i, p=prefix: c.write(origin, p + b"ready-%d" % i, b""), prefix + b"ready-")
        stub = c.kv(origin)
        n = int(rate * cfg.latency_seconds)
        per_tick = max(1, round(rate * 0.001))  # open loop: one request per ms at most
        keys: list[bytes] = []
        inflight: list[grpc.Future] = []
        start = time.monotonic()
        value = b"x" * cfg.value_size
        while len(keys) < n:
            due = start + (len(keys) / rate)
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)  # pacing the offered load, not synchronisation
            batch = [prefix + b"%d" % (len(keys) + j) for j in range(min(per_tick, n - len(keys)))]
            if len(batch) == 1:
                inflight.append(
                    stub.Put.future(pb.PutRequest(key=batch[0], value=value), timeout=30)
                )
            else:
                inflight.append(
                    stub.PutBatch.future(
                        pb.PutBatchRequest(
                            writes=[pb.Write(op=pb.PUT, key=k, value=value) for k in batch]
                        ),
                        timeout=30,
                    )
                )
            keys.extend(batch)
            while len(inflight) > MAX_INFLIGHT:  # the node cannot keep up: back off
                inflight.pop(0).result()
            if len(keys) % max(1, rate // 2) < per_tick:
                progress(f"latency @{rate}/s: {len(keys)}/{n} writes")
        for f in inflight:
            f.result()
        inflight.clear()
        offered = len(keys) / (time.monotonic() - start)
        w.wait_all(keys, 60)
        w.close()
        committed = w.applied[origin]
        per_node = {}
        for node in nodes[1:]:
            per_node[node] = [(w.applied[node][k] - committed[k]) / 1e6 for k in keys]
        all_ms = [v for vs in per_node.values() for v in vs]
        results[str(rate)] = {
            "offered_per_s": round(offered),
            "origin": origin,
            "all_ms": percentiles(all_ms),
            "per_node_ms": {n: percentiles(v) for n, v in per_node.items()},
            "_samples": per_node,
        }
    return results


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

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    progress(
        f"throughput: {cfg.clients} clients x batch {cfg.batch} for {cfg.throughput_seconds:.0f}s"
    )
    acked, took = load(c, nodes, cfg.clients, cfg.throughput_seconds, 0, cfg, "tp/")
    stop.set()
    sampler.join()
    conv = c.converge(600)
    return {
        "clients": cfg.clients,
        "batch": cfg.batch,
        "acked": acked,
        "load_seconds": round(took, 3),
        "acked_per_s": round(acked / took),
        "converge_after_load_s": round(conv, 3),
        "converged_per_s": round(acked / (took + conv)),
        "max_lag_entries": max_lag,
    }


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
    c.supervisor.start_program(laggard, wait=False)
    wait_for(lambda: c.serving(laggard), 60, f"{laggard} to serve")
    serving = time.monotonic() - start
    lag_start = before - had
    conv = c.converge(600)  # from serving to converged: the catch-up proper
    st = c.node_status(laggard)
    return {
        "node": laggard,
        "entries_written": acked,
        "write_seconds": round(took, 3),
        "entries_behind": lag_start,
        "startup_s": round(serving, 3),
        "catchup_s": round(conv, 3),
        "entries_per_s": round(lag_start / conv),
        "entries_received": st.entries_received,
        "duplicates_received": st.duplicates_received,
    }


def bench_heal(c: Cluster, cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    nodes = c.running_nodes()
    half = max(1, len(nodes) // 2)
    left, right = nodes[:half], nodes[half:]
    c.partition([left, right])
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
            c = Cluster.up(ROOT / f"topology/{name}.yaml", home=home)
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
    result: dict[str, Any] = {"machine": machine(), "config": asdict(cfg)}
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
    return result


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    cl = result.get("cluster", {})
    cfg = result["config"]
    lines = [
        f"machine: {m['nproc']} cores, {m['cpu_model']}, Python {m['python']}, "
        f"data on {m['data_dir_fs']}, load at start {m['loadavg_at_start']}"
    ]
    if cl:
        lines.append(
            f"cluster: {cl['name']} ({cl['nodes']} nodes, {cl['shape']}, "
            f"durability {cl['durability']}, proxies {'on' if cl['proxies'] else 'off'})"
            f", value {cfg['value_size']} B, key space {cfg['keys']}"
        )
    rows = [("measure", "result")]
    for rate, r in result.get("latency", {}).items():
        a = r["all_ms"]
        rows.append(
            (
                f"replication latency @ {rate}/s (offered {r['offered_per_s']}/s)",
                f"p50 {a['p50']:.2f} ms  p99 {a['p99']:.2f} ms  max {a['max']:.2f} ms",
            )
        )
    if "throughput" in result:
        t = result["throughput"]
        rows.append(("sustained throughput (acked)", f"{t['acked_per_s']:,} writes/s"))
        rows.append(
            (
                "  converged (incl. drain after load)",
                f"{t['converged_per_s']:,} writes/s (drain {t['converge_after_load_s']} s,"
                f" max lag {t['max_lag_entries']:,})",
            )
        )
    if "catchup" in result:
        r = result["catchup"]
        rows.append(
            (
                f"catch-up of {r['entries_behind']:,} entries",
                f"{r['entries_per_s']:,} entries/s ({r['catchup_s']} s once serving; "
                f"process start {r['startup_s']} s)",
            )
        )
    if "heal" in result:
        r = result["heal"]
        rows.append(
            (
                f"heal after {r['writes_per_side']:,} writes per side",
                f"converged in {r['converge_s']} s (links back {r['links_up_s']} s, "
                f"transfer {r['transfer_s']} s)",
            )
        )
    if "fanout" in result:
        r = result["fanout"]
        rows.append(
            (
                "entries sent per write",
                f"{r['entries_sent_per_write']} "
                + (f"(ideal {r['ideal']})" if r["ideal"] is not None else ""),
            )
        )
    for name, r in result.get("startup", {}).items():
        rows.append(
            (
                f"cluster up {name}",
                f"{r['up_s']} s; entries sent per write {r['entries_sent_per_write']}",
            )
        )
    width = max(len(a) for a, _ in rows)
    return "\n".join(lines + [f"{a.ljust(width)}  {b}" for a, b in rows])


def plot(result: dict[str, Any], path: str) -> None:
    """Latency CDF per node and rate (needs matplotlib: pip install remesh[bench])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install 'remesh[bench]'") from exc
    fig, ax = plt.subplots(figsize=(8, 5))
    for rate, r in result.get("latency", {}).items():
        for node, samples in r["_samples"].items():
            s = sorted(samples)
            ax.plot(s, [(i + 1) / len(s) for i in range(len(s))], label=f"{node} @ {rate}/s")
    ax.set_xscale("log")
    ax.set_xlabel("replication latency (ms, log)")
    ax.set_ylabel("fraction of writes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    cl = result.get("cluster", {})
    ax.set_title(
        f"remesh {cl.get('name', '')} ({cl.get('durability', '')}), "
        f"{result['machine']['nproc']} cores"
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")


def strip_samples(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if "latency" in out:
        out["latency"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "_samples"}
            for k, v in out["latency"].items()
        }
    return out


# ------------------------------------------------------------ side by side
def _remesh_row(
    durability: str, batch: int, cfg: BenchConfig, home: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """remesh mesh3 in one durability mode: converged throughput and latency at 1,000/s."""
    topo = Path(home) / f"mesh3-{durability}.yaml"
    topo.write_text(
        f"name: mesh3-{durability}\nsettings: {{durability: {durability}}}\n"
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
        "system": f"remesh {durability}" + ("" if batch > 1 else " unbatched"),
        "durability": f"{fsync}; origin acks alone, replicas apply asynchronously",
        "client": f"{cfg.clients} processes, PutBatch of {batch}"
        if batch > 1
        else f"{cfg.clients} processes, one Put per request",
        "throughput_converged_per_s": tp["converged_per_s"],
        "throughput_acked_per_s": tp["acked_per_s"],
        "latency_ms": {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]},
    }


def bench_compare(cfg: BenchConfig, progress: Callable[[str], None], install: bool) -> dict:
    """remesh (buffered, sync, unbatched) beside etcd and Redis under one workload."""
    from cluster.bench_peers import run_peers

    rows = []
    with tempfile.TemporaryDirectory(prefix="remesh-compare-") as home:
        for durability, batch in (("buffered", cfg.batch), ("sync", cfg.batch), ("buffered", 1)):
            progress(f"compare: remesh {durability} batch {batch}")
            rows.append(_remesh_row(durability, batch, cfg, home, progress))
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


def compare_table(result: dict[str, Any]) -> str:
    head = ("system", "converged w/s", "ratio", "lat p50/p99/max ms", "client", "durability")
    out = [head]
    for r in result["compare"]["rows"]:
        lat = r.get("latency_ms") or {}
        out.append(
            (
                r["system"],
                f"{r.get('throughput_converged_per_s') or 0:,.0f}",
                f"{r.get('ratio_vs_remesh_buffered') or '-'}",
                "/".join(f"{lat[k]:.2f}" for k in ("p50", "p99", "max")) if lat else "-",
                r["client"],
                r["durability"],
            )
        )
    widths = [max(len(str(row[i])) for row in out) for i in range(len(head))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in out
    ]
    lines.append(
        "Unlike comparisons are labelled: remesh's batched rows send 500 writes per "
        "request; etcd fsyncs and waits for a quorum; Redis and remesh buffered do not "
        "fsync."
    )
    return "\n".join(lines)
