"""The same write workload against etcd and Redis on loopback, for `cluster bench --peers`.

remesh's own figures mean little alone; this module runs a 3-member etcd cluster and a
Redis primary with two replicas as local processes and measures them with the workload
and the definitions `cluster bench` uses for remesh, so the numbers sit side by side:

- **acked/s**: acknowledged writes per second while ``concurrency`` client threads
  (one connection each, no pipelining unless a row says so), spread over ``processes``
  forked processes so one GIL does not set the pace, write as fast as they can.
- **converged/s**: writes / (load time + time until every member holds every write):
  remesh's definition of done. Redis: each replica's ``slave_repl_offset`` reaches the
  primary's ``master_repl_offset``; etcd: each member's serializable revision reaches
  the highest revision any put returned.
- **replication latency**: at a fixed rate (1000/s by default), from a write's first
  arrival on any member (its commit point: the Redis primary, usually the etcd leader)
  to its arrival on each other member, as `cluster bench` measures remesh ("committed
  at the origin -> applied at the replica"). Arrivals are pushed, not polled: an etcd
  v3 Watch stream on each member, Redis keyspace notifications on each server; both
  fire as the member applies the write, and the same path on both ends cancels the
  driver's own delays. The ack -> arrival time is reported beside it.

Every timestamp is ``time.perf_counter_ns()`` in this one process. Every server runs on
127.0.0.1 with free ports and its data under one temp dir, and every one is stopped at
exit (finally + atexit; ``main`` also turns SIGTERM/SIGHUP into a clean exit), then
checked gone by scanning /proc for that temp dir in command lines.

``python -m cluster.bench.peers --help`` (or ``ci/bench-peers``) runs it; ``run_peers``
is the library entry point.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.argtypes import positive_int, seconds
from cluster.bench.etcd import ETCD_DURABILITY, bench_etcd
from cluster.bench.machine import machine_info
from cluster.bench.phases import BenchFailed
from cluster.bench.redis import REDIS_DURABILITY, bench_redis
from cluster.bench.report import format_table
from cluster.bench.results import failed_row
from cluster.bench.servers import (
    PeersUnavailable,
    ProcessGroup,
    ensure_servers,
    import_redis,
    server_pids,
    version,
)
from cluster.wait import WaitTimeout


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The CLI; argparse exits 2 with a message on bad input, as every remesh tool does."""
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ci/bench-peers",
        description="Run the same write workload against a 3-member etcd cluster and a "
        "Redis primary with 2 replicas on 127.0.0.1 and print comparable figures.",
    )
    p.add_argument("--writes", type=positive_int, default=20_000, help="total writes")
    p.add_argument("--value-size", type=positive_int, default=100, help="bytes per value")
    p.add_argument("--keys", type=positive_int, default=10_000, help="distinct keys")
    p.add_argument("--concurrency", type=positive_int, default=16, help="client threads")
    p.add_argument(
        "--processes", type=positive_int, default=4, help="client processes the threads share"
    )
    p.add_argument("--latency-rate", type=positive_int, default=1000, help="writes/s")
    p.add_argument("--latency-seconds", type=seconds, default=3.0)
    p.add_argument("--timeout", type=seconds, default=120.0, help="per phase, s")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    p.add_argument("--tmp", type=Path, help="parent of the data dir (default: $TMPDIR)")
    p.add_argument(
        "--no-install", action="store_true", help="never apt-get; fail if etcd/redis missing"
    )
    p.add_argument("--only", choices=["etcd", "redis"], help="run one system only")
    return p


def _log(msg: str) -> None:
    print(f"[bench-peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_peers(
    writes: int = 20_000,
    value_size: int = 100,
    keys: int = 10_000,
    concurrency: int = 16,
    *,
    processes: int = 4,
    latency_rate: int = 1000,
    latency_seconds: float = 3.0,
    timeout: float = 120.0,
    install: bool = False,
    tmp: Path | None = None,
    only: str | None = None,
    log: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """Benchmark etcd and Redis with this workload; every server is stopped on return.

    Raises PeersUnavailable when a server or the redis client is missing (``install``
    lets it apt-get the servers as root). A system that fails mid-run gets a row with
    ``error`` set and the other still runs. The dict: ``workload``, ``machine``,
    ``versions``, ``systems`` (rows: see ``_row``), ``leftovers`` (processes that
    had to be SIGKILLed at the end; normally empty).
    """
    redis = prepare(install, only, log)
    redis_error = redis.RedisError if redis is not None else OSError
    root = Path(tempfile.mkdtemp(prefix="remesh-peers-", dir=tmp))
    workload = {
        "writes": writes,
        "value_size": value_size,
        "keys": keys,
        "concurrency": concurrency,
        "processes": processes,
        "latency_rate": latency_rate,
        "latency_seconds": latency_seconds,
        "timeout": timeout,
    }
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workload": workload,
        "machine": machine_info(root),
        "versions": {
            "etcd": version(["etcd", "--version"]),
            "redis-server": version(["redis-server", "--version"]),
        },
        "systems": [],
        "leftovers": [],
    }
    stray = server_pids()
    if stray:
        log(f"WARNING: etcd/redis already running, not ours, left alone: {sorted(stray)}")
        result["foreign_servers"] = [f"{p} {c}" for p, c in sorted(stray.items())]
    group = ProcessGroup(root)
    try:
        if only in (None, "etcd"):
            try:
                result["systems"].append(bench_etcd(group, root, workload, log))
            except (BenchFailed, WaitTimeout, OSError) as exc:
                result["systems"].append(failed_row("etcd", ETCD_DURABILITY, exc))
            result["leftovers"] += group.stop()
        if only in (None, "redis"):
            try:
                result["systems"] += bench_redis(group, root, workload, redis, log)
            except (BenchFailed, WaitTimeout, OSError, redis_error) as exc:
                result["systems"].append(failed_row("redis", REDIS_DURABILITY, exc))
    finally:
        result["leftovers"] += group.stop()
        atexit.unregister(group.stop)
        shutil.rmtree(root, ignore_errors=True)
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if result["leftovers"]:
        log(f"had to SIGKILL leftovers: {result['leftovers']}")
    return result


def prepare(install: bool, only: str | None, log: Callable[[str], None] = _log) -> Any:
    """What ``run_peers`` needs, checked (``install``: installed) before anything runs, so
    ``cluster bench --peers`` fails in its first second, not after its remesh rows. Returns
    the redis module (None when ``only`` is etcd)."""
    redis = import_redis(install, log) if only != "etcd" else None
    ensure_servers(install, log)
    return redis


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_peers' finally: servers stop


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        result = run_peers(
            args.writes,
            args.value_size,
            args.keys,
            args.concurrency,
            processes=args.processes,
            latency_rate=args.latency_rate,
            latency_seconds=args.latency_seconds,
            timeout=args.timeout,
            install=not args.no_install,
            tmp=args.tmp,
            only=args.only,
        )
    except PeersUnavailable as exc:
        print(f"bench-peers: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-peers: interrupted; every server was stopped", file=sys.stderr)
        return 130
    except SystemExit as exc:  # SIGTERM/SIGHUP, after run_peers stopped every server
        print("bench-peers: stopped by a signal; every server was stopped", file=sys.stderr)
        raise exc
    if args.json:  # first: a closed stdout must not lose the figures
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    if args.json:
        print(f"wrote {args.json}")
    return 1 if any("error" in r for r in result["systems"]) else 0


if __name__ == "__main__":
    sys.exit(main())
