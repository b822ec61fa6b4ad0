"""``bench``: measure a cluster (brought up for the run, or the one that is up)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cluster.api import Cluster
from cluster.argtypes import int_list
from cluster.bench.config import SECTIONS, BenchConfig
from cluster.commands import AddVerb
from cluster.commands.output import Progress
from cluster.errors import ClusterError


def bench(args: argparse.Namespace) -> int:
    from cluster.bench.remesh import run_bench
    from cluster.bench.report import compare_table, plot, strip_samples, table

    sections = [s for s in args.only.split(",") if s] if args.only is not None else list(SECTIONS)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ClusterError(f"--only: unknown {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    cfg = BenchConfig(
        value_size=args.value_size,
        keys=args.keys,
        clients=args.clients,
        batch=args.batch,
        rates=args.rates,
        latency_seconds=args.latency_seconds,
        throughput_seconds=args.throughput_seconds,
        catchup_entries=args.catchup_entries,
        heal_writes=args.heal_writes,
        bootstrap_keys=args.bootstrap_keys,
        soak_writes=args.soak_writes,
        soak_keys=args.soak_keys,
    )
    progress = Progress()
    owned = None
    try:
        needs_cluster = set(sections) - {"startup", "bootstrap", "soak-disk"}
        if args.file and needs_cluster:
            owned = Cluster.up(args.file, home=args.home, progress=progress)
            c: Cluster | None = owned
        else:
            c = Cluster.open(args.cluster, args.home) if needs_cluster else None
        result = run_bench(c, cfg, sections, progress)
        if args.peers:
            from cluster.bench.compare import bench_compare

            result["compare"] = bench_compare(cfg, progress, install=args.install)
    finally:
        progress.done()
        if owned is not None:
            owned.down(purge=True)
    if args.plot:
        plot(result, args.plot)
    clean = strip_samples(result)
    if args.out:
        Path(args.out).write_text(json.dumps(clean, indent=2) + "\n")
    if args.json:
        print(json.dumps(clean, indent=2))
    else:
        print(table(result))
        if "compare" in result:
            print("\n" + compare_table(result))
    return 0


def register(add: AddVerb) -> None:
    sp = add("bench", bench, "measure latency, throughput, catch-up, heal, fan-out, startup")
    sp.add_argument("file", nargs="?", help="bring this topology up for the run (and down after)")
    sp.add_argument("--only", help="comma list of: " + ",".join(SECTIONS))
    sp.add_argument("--value-size", type=int, default=100)
    sp.add_argument("--keys", type=int, default=100_000)
    sp.add_argument("--clients", type=int, default=4, help="writer processes")
    sp.add_argument("--batch", type=int, default=500, help="writes per PutBatch")
    sp.add_argument(
        "--rates", type=int_list, default=[1000, 10000], help="offered rates for latency (writes/s)"
    )
    sp.add_argument("--latency-seconds", type=float, default=3.0)
    sp.add_argument("--throughput-seconds", type=float, default=10.0)
    sp.add_argument("--catchup-entries", type=int, default=1_000_000)
    sp.add_argument("--heal-writes", type=int, default=10_000, help="writes on each side")
    sp.add_argument("--bootstrap-keys", type=int, default=1_000_000, help="live keys (bootstrap)")
    sp.add_argument("--soak-writes", type=int, default=1_000_000, help="overwrites (soak-disk)")
    sp.add_argument("--soak-keys", type=int, default=10_000, help="keys overwritten (soak-disk)")
    sp.add_argument(
        "--peers",
        action="store_true",
        help="also run remesh buffered/sync and etcd and Redis side by side",
    )
    sp.add_argument(
        "--install",
        action="store_true",
        help="with --peers: apt-get etcd-server and redis-server if missing (root)",
    )
    sp.add_argument("--out", help="also write the JSON result to this file")
    sp.add_argument("--plot", help="latency CDF per node to this PNG (needs matplotlib)")
