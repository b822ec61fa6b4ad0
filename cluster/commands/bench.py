"""``bench``: measure a cluster (brought up for the run, or the one that is up)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cluster.api import Cluster
from cluster.argtypes import int_list, positive_int, seconds
from cluster.bench.config import SECTIONS, STANDALONE, BenchConfig, default_rates
from cluster.bench.leftovers import occupied, say, settle
from cluster.commands import AddVerb, lock_wait, on_sigterm, waits
from cluster.commands.output import Progress
from cluster.errors import ClusterError, OperationFailed
from cluster.verblock import hold
from cluster.wait import WaitTimeout


def bench(args: argparse.Namespace) -> int:
    from cluster.bench.remesh import run_bench
    from cluster.bench.report import compare_table, plot, scale_table, strip_samples, table

    sections = [s for s in args.only.split(",") if s] if args.only is not None else list(SECTIONS)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ClusterError(f"--only: unknown {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    cfg = BenchConfig(
        value_size=args.value_size,
        keys=args.keys,
        clients=args.clients,
        concurrency=args.concurrency,
        batch=args.batch,
        stream=args.stream,
        rates=args.rates,
        latency_seconds=args.latency_seconds,
        throughput_seconds=args.throughput_seconds,
        catchup_entries=args.catchup_entries,
        heal_writes=args.heal_writes,
        bootstrap_keys=args.bootstrap_keys,
        soak_writes=args.soak_writes,
        soak_keys=args.soak_keys,
        apply_entries=args.apply_entries,
    )
    progress = Progress()
    preflight(args, progress)  # what would fail at the end fails first, in one line
    busy_machine()
    owned, found = None, None
    try:
        needs_cluster = set(sections) - STANDALONE
        if args.file and needs_cluster:
            owned = Cluster.up(args.file, home=args.home, progress=progress)
            c: Cluster | None = owned
        else:
            c = Cluster.open(args.cluster, args.home) if needs_cluster else None
        previous = signal.signal(signal.SIGTERM, on_sigterm)  # `down` stops it: unwind, heal
        try:  # the scale and peer clusters too: SIGTERM unwinds and takes them down
            with hold(c.dir, "bench", lock_wait(args)) if c else contextlib.nullcontext():
                before = occupied(c) if c and not owned else set()
                result = run_bench(c, cfg, sections, progress)
                if c and not owned:  # the cluster that was up keeps what the run wrote
                    found = result["leftovers"] = settle(c, before, args.cleanup, progress)
            if args.scale:
                from cluster.bench.scale import bench_scale

                result["scale"] = bench_scale(cfg, progress)
            if args.peers:
                from cluster.bench.compare import bench_compare

                result["compare"] = bench_compare(cfg, progress, install=args.install)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except WaitTimeout as exc:  # a phase that did not finish: the run failed, say where
        raise OperationFailed(f"bench: {exc}") from None
    finally:
        progress.done()
        if owned is not None:
            owned.down(purge=True)
    if args.plot:
        plot(result, args.plot)
    clean = strip_samples(result)
    if args.out:
        try:
            Path(args.out).write_text(json.dumps(clean, indent=2) + "\n")
        except OSError as exc:
            raise ClusterError(f"--out {args.out}: cannot write: {exc.strerror}") from None
    if args.json:
        print(json.dumps(clean, indent=2))
    else:
        print(table(result))
        if "scale" in result:
            print("\n" + scale_table(result))
        if "compare" in result:
            print("\n" + compare_table(result))
    for line in say(found) if found else []:
        print(line, file=sys.stderr)
    behind = generator_behind(clean)
    for what in behind:
        print(f"bench: {what}", file=sys.stderr)
    if behind and not args.allow_behind:
        print(
            "bench: the load generator could not offer the asked load, so those figures do "
            "not measure the cluster at that load: run on a quieter machine, lower --rates, "
            "or pass --allow-behind to accept them (exit status 1)",
            file=sys.stderr,
        )
        return 1
    return 0


def preflight(args: argparse.Namespace, progress: Progress) -> None:
    """What the run needs at its end, checked (``--install``: installed) before it measures
    anything: a bench that fails after minutes on a missing package wastes them, and every
    such failure is one line and exit 2, never a traceback."""
    for option, path in (("--out", args.out), ("--plot", args.plot)):
        parent = Path(path).resolve().parent if path else None
        if parent is not None and not (parent.is_dir() and os.access(parent, os.W_OK)):
            raise ClusterError(
                f"{option} {path}: cannot write there ({parent} is not a "
                "directory this user may write)"
            )
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ClusterError("--plot needs matplotlib: pip install 'remesh[bench]'") from None
    if args.peers:
        from cluster.bench.peers import prepare

        prepare(args.install, None, progress)


def busy_machine() -> None:
    """Say up front when other work already fills the cores: the default rates fit the
    machine's cores, not cores someone else is using."""
    cores, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    if load > cores:
        print(
            f"bench: load {load:.1f} on {cores} cores before the run: the load generator may "
            f"not offer the asked rates (exit 1 unless --allow-behind)",
            file=sys.stderr,
        )


def generator_behind(result: dict[str, Any]) -> list[str]:
    """Every place in a result where the load generator fell behind or saturated."""
    found = []
    for rate, r in result.get("latency", {}).items():
        if r.get("behind"):
            found.append(f"latency @{rate}/s: {r['behind']}")
    if result.get("throughput", {}).get("generator_saturated"):
        found.append("throughput: a generator process used most of a core")
    for shape, r in result.get("scale", {}).items():
        if r.get("behind"):
            found.append(f"scale {shape}: {r['behind']}")
    for r in result.get("compare", {}).get("rows", []):
        if r.get("behind"):
            found.append(f"{r['system']}: {r['behind']}")
    return found


class ShowDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` gives every default, except the empty ones (None, off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def register(add: AddVerb) -> None:
    sp = waits(add("bench", bench, "measure latency, throughput, catch-up, heal, fan-out, startup"))
    sp.formatter_class = ShowDefaults
    sp.add_argument(
        "file",
        nargs="?",
        help="bring this topology up for the run (and down after); without it, the cluster "
        "that is up, which keeps the keys the run wrote unless --cleanup",
    )
    sp.add_argument("--only", help="comma list of: " + ",".join(SECTIONS) + " (all)")
    sp.add_argument("--value-size", type=positive_int, default=100, help="bytes per value")
    sp.add_argument("--keys", type=positive_int, default=100_000, help="key space of a load")
    sp.add_argument("--clients", type=positive_int, default=4, help="load generator processes")
    sp.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests in flight per process"
    )
    sp.add_argument("--batch", type=positive_int, default=500, help="writes per PutBatch")
    sp.add_argument(
        "--stream",
        action="store_true",
        help="single writes (--batch 1, latency at 1,000/s and below) as messages on Writes "
        "streams, one in flight per stream, instead of unary Put calls",
    )
    sp.add_argument(
        "--rates",
        type=int_list,
        default=",".join(map(str, default_rates())),
        help="offered rates for latency (writes/s); the default fits this machine: 1000 "
        "and 2500 per core up to 10000",
    )
    sp.add_argument("--latency-seconds", type=seconds, default=3.0, help="per rate")
    sp.add_argument("--throughput-seconds", type=seconds, default=10.0, help="of sustained load")
    sp.add_argument(
        "--catchup-entries", type=positive_int, default=1_000_000, help="a node catches up on"
    )
    sp.add_argument("--heal-writes", type=positive_int, default=10_000, help="writes on each side")
    sp.add_argument(
        "--bootstrap-keys", type=positive_int, default=1_000_000, help="live keys (bootstrap)"
    )
    sp.add_argument(
        "--soak-writes", type=positive_int, default=1_000_000, help="overwrites (soak-disk)"
    )
    sp.add_argument("--soak-keys", type=positive_int, default=10_000, help="keys overwritten")
    sp.add_argument(
        "--apply-entries", type=positive_int, default=200_000, help="entries the apply section uses"
    )
    sp.add_argument(
        "--scale",
        action="store_true",
        help="also run mesh3, mesh5 and mesh7 in turn: throughput, latency, work per write",
    )
    sp.add_argument(
        "--allow-behind",
        action="store_true",
        help="exit 0 even when the load generator could not offer the asked load",
    )
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
    sp.add_argument(
        "--cleanup",
        action="store_true",
        help="on the cluster that is up: delete the keys the run wrote after it (their "
        "tombstones stay until collected); prefixes that held keys before are kept",
    )
    sp.add_argument("--out", help="also write the JSON result to this file")
    sp.add_argument("--plot", help="latency CDF per node to this PNG (needs matplotlib)")
