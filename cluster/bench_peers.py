"""The same write workload against etcd and Redis on loopback, for `cluster bench --peers`.

remesh's own figures mean little alone; this module runs a 3-member etcd cluster and a
Redis primary with two replicas as local processes and measures them with the workload
and the definitions `cluster bench` uses for remesh, so the numbers sit side by side:

- **acked/s**: acknowledged writes per second while ``concurrency`` client threads
  (one connection each, no pipelining unless a row says so) write as fast as they can.
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

``python -m cluster.bench_peers --help`` (or ``ci/bench-peers``) runs it; ``run_peers``
is the library entry point.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import bisect
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cluster.ports import free_ports
from cluster.wait import WaitTimeout, wait_for

HOST = "127.0.0.1"
PIPELINE = 100
LATENCY_WRITERS = 8  # enough for etcd, ~5 ms per put here, to offer 1000/s
MAX_ERRORS_PER_THREAD = 100
ETCD_DURABILITY = "fsync WAL per commit (default); ack after quorum 2/3"
REDIS_DURABILITY = "no fsync (appendonly no, save ''); ack by primary only, async replicas"

# One write: the indices it covers -> a position (etcd revision; 0 when there is none).
SendFn = Callable[[Sequence[int]], int]
# One paced latency write: global index -> (stream, position, origin member or -1).
LatencyWriteFn = Callable[[int], tuple[int, int, int]]


class Observer(Protocol):
    """One member's view of the latency writes, fed by a push stream."""

    def next(self) -> list[int] | None:
        """Block until news (or a short timeout: None); the position in each stream."""
        ...

    def close(self) -> None:
        """End the stream; unblocks a ``next`` waiting in another thread."""
        ...


class PeersUnavailable(Exception):
    """etcd or Redis (server or client) is missing and cannot be installed here."""


class BenchFailed(Exception):
    """A server did not start, or a phase could not finish in time."""


# --------------------------------------------------------------------------- pure parts


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence: always a value that was measured."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ns(values_ns: Iterable[int]) -> dict[str, float | int] | None:
    """p50/p99/max in milliseconds (3 decimals) and the sample count; None when empty."""
    ordered = sorted(values_ns)
    if not ordered:
        return None
    return {
        "p50": round(percentile(ordered, 50) / 1e6, 3),
        "p99": round(percentile(ordered, 99) / 1e6, 3),
        "max": round(ordered[-1] / 1e6, 3),
        "samples": len(ordered),
    }


@dataclass(frozen=True)
class Visibility:
    """Replication latencies of the paced writes, two ways, and what never arrived.

    ``latencies_ns``: from the write's first arrival anywhere (its commit point: the
    Redis primary, usually the etcd leader) to its arrival on each other member, both
    seen through the same kind of push stream, so the driver's own delays cancel out;
    this is `cluster bench`'s "committed at the origin -> applied at the replica".
    ``from_ack_ns``: from the client's ack to the arrival on each member other than the
    one that acked; arrivals before the ack count 0 (``before_ack`` of them).
    """

    latencies_ns: list[int]
    from_ack_ns: list[int]
    unseen: int
    before_ack: int


def visibility_latencies(
    writes: Sequence[tuple[int, int, int, int]],
    series: Sequence[Sequence[tuple[int, Sequence[int]]]],
) -> Visibility:
    """Find when each acknowledged write arrived on each member; see ``Visibility``.

    ``writes``: ``(ack_ns, stream, position, origin)``, origin being the member that
    acked; ``series[m]``: ``(time_ns, positions)`` samples of member ``m`` in time
    order. A member holds a write once its position in that stream reaches the write's
    (etcd revisions and each Redis writer's sequence only grow), so a binary search over
    the running maximum finds the arrival. ``unseen`` counts (write, member) pairs that
    never arrived.
    """
    index: list[list[tuple[list[int], list[int]]]] = []
    for samples in series:
        per_stream: dict[int, tuple[list[int], list[int]]] = {}
        for t, positions in samples:
            for s, pos in enumerate(positions):
                times, tops = per_stream.setdefault(s, ([], []))
                times.append(t)
                tops.append(max(pos, tops[-1]) if tops else pos)
        width = max(per_stream, default=-1) + 1
        index.append([per_stream.get(s, ([], [])) for s in range(width)])
    latencies: list[int] = []
    from_ack: list[int] = []
    unseen = before = 0
    for ack, stream, position, origin in writes:
        arrivals: list[tuple[int, int]] = []  # (time, member)
        for member, streams in enumerate(index):
            times, tops = streams[stream] if stream < len(streams) else ([], [])
            i = bisect.bisect_left(tops, position)
            if i == len(tops):
                unseen += 1
            else:
                arrivals.append((times[i], member))
        arrivals.sort()
        latencies.extend(t - arrivals[0][0] for t, _ in arrivals[1:])
        for t, member in arrivals:
            if member != origin:
                before += t < ack
                from_ack.append(max(0, t - ack))
    return Visibility(latencies, from_ack, unseen, before)


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The CLI; argparse exits 2 with a message on bad input, as every remesh tool does."""
    p = argparse.ArgumentParser(
        prog="ci/bench-peers",
        description="Run the same write workload against a 3-member etcd cluster and a "
        "Redis primary with 2 replicas on 127.0.0.1 and print comparable figures.",
    )
    p.add_argument("--writes", type=_positive_int, default=20_000, help="total writes")
    p.add_argument("--value-size", type=_positive_int, default=100, help="bytes per value")
    p.add_argument("--keys", type=_positive_int, default=10_000, help="distinct keys")
    p.add_argument("--concurrency", type=_positive_int, default=16, help="client threads")
    p.add_argument("--latency-rate", type=_positive_int, default=1000, help="writes/s")
    p.add_argument("--latency-seconds", type=_positive_float, default=3.0)
    p.add_argument("--timeout", type=_positive_float, default=120.0, help="per phase, s")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    p.add_argument("--tmp", type=Path, help="parent of the data dir (default: $TMPDIR)")
    p.add_argument(
        "--no-install", action="store_true", help="never apt-get; fail if etcd/redis missing"
    )
    p.add_argument("--only", choices=["etcd", "redis"], help="run one system only")
    return p.parse_args(argv)


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """The terminal table: one row per system, then each row's durability and notes."""
    head = ("system", "acked/s", "converged/s", "lat p50", "p99", "max ms", "durability")
    rows = [head]
    for r in result["systems"]:
        lat = r.get("latency_ms") or {}
        rows.append(
            (
                r["system"],
                _fmt(r.get("throughput_acked_per_s")),
                _fmt(r.get("throughput_converged_per_s")),
                _fmt(lat.get("p50"), 2),
                _fmt(lat.get("p99"), 2),
                _fmt(lat.get("max"), 2),
                r["durability"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    w = result["workload"]
    lines.append(
        f"workload: {w['writes']:,} writes of {w['value_size']} B over {w['keys']:,} keys, "
        f"{w['concurrency']} client threads; latency at {w['latency_rate']}/s for "
        f"{w['latency_seconds']} s"
    )
    m = result.get("machine")
    if m:
        lines.append(
            f"machine: {m['nproc']} cores, {m['cpu_model']}, data on {m['data_dir_fs']}; "
            f"1-min load average {m['loadavg_at_start'][0]} at start, "
            f"{m.get('loadavg_at_end', ['?'])[0]} at end (anything else running skews this)"
        )
    for r in result["systems"]:
        for note in r.get("notes", []):
            lines.append(f"  {r['system']}: {note}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- processes


def _cmdlines() -> dict[int, str]:
    """Every live process's command line, from /proc (NUL separators become spaces)."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                out[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return out


def server_pids() -> dict[int, str]:
    """Running etcd and redis-server processes, whoever started them."""
    return {
        pid: cmd
        for pid, cmd in _cmdlines().items()
        if os.path.basename(cmd.split(" ", 1)[0]) in ("etcd", "redis-server")
        or cmd.startswith("redis-server ")
    }


class ProcessGroup:
    """Every server this run started, all with ``marker`` (the data dir) in their argv.

    ``stop`` is idempotent and is registered with atexit, so an exception, Ctrl-C or a
    SIGTERM turned into SystemExit still ends them; it then scans /proc for anything
    still carrying the marker, so "nothing left running" is checked, not assumed.
    """

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        atexit.register(self.stop)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start one server with its working directory in the marker dir: redis-server
        rewrites its command line, so the leftover scan goes by working directory."""
        log = open(self.marker / f"{name}.log", "wb")  # noqa: SIM115 - child owns it
        try:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.marker,
            )  # fmt: skip
        finally:
            log.close()
        self.procs.append((name, proc))
        return proc

    def _ours(self, pid: int, cmd: str) -> bool:
        inside = f"{self.marker}/"
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        return inside in cmd or f"{cwd}/".startswith(inside)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.marker / f"{name}.log").read_text(errors="replace")[-800:]
                raise BenchFailed(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> list[str]:
        """Stop each in reverse start order (SIGTERM, 5 s, then SIGKILL); return what the
        final /proc scan had to kill. One at a time because an etcd leader that gets
        SIGTERM hands leadership to a live peer first and, when every peer is stopping
        too, waits 7 s for a transfer that cannot happen."""
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        killed = []
        for pid, cmd in _cmdlines().items():
            if pid != os.getpid() and self._ours(pid, cmd):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(f"{pid} {cmd}")
                except ProcessLookupError:
                    pass
        return killed


# ---------------------------------------------------------------------------- install


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def ensure_servers(install: bool, log: Callable[[str], None]) -> None:
    """Install Debian's etcd-server and redis-server when missing, starting no service.

    A temporary ``policy-rc.d`` (only when none exists) keeps postinst from starting the
    packaged services; anything that started anyway (new etcd/redis pids, or systemd
    units) is stopped and disabled, so only this run's servers compete for the 2 cores.
    """
    missing = [
        pkg
        for binary, pkg in (("etcd", "etcd-server"), ("redis-server", "redis-server"))
        if shutil.which(binary) is None
    ]
    if not missing:
        return
    hint = f"install them first: apt-get install {' '.join(missing)}"
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PeersUnavailable(f"missing Debian package(s) {', '.join(missing)}; {hint}")
    log(f"installing {' '.join(missing)} with apt-get")
    before = set(server_pids())
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text(
            "#!/bin/sh\n# ci/bench-peers: start no service during install\nexit 101\n"
        )
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PeersUnavailable(f"apt-get took too long ({exc.timeout:.0f} s); {hint}") from None
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PeersUnavailable(f"apt-get failed ({done.stderr.strip()[-400:]}); {hint}")
    if Path("/run/systemd/system").is_dir():
        for unit in ("etcd", "redis-server"):
            subprocess.run(["systemctl", "disable", "--now", unit], capture_output=True)
    for pid in set(server_pids()) - before:
        log(f"stopping service started by the install: pid {pid}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise PeersUnavailable(
            "the Python package redis is missing: pip install 'redis>=5' "
            "(ci/bench-peers installs it into .venv)"
        ) from None
    return redis


def machine_info(data_dir: Path) -> dict[str, Any]:
    """What the figures depend on: cores, CPU, kernel and the data dir's filesystem."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs, best = "unknown", ""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(data_dir).startswith(parts[1]) and len(parts[1]) > len(best):
                fs, best = parts[2], parts[1]
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "data_dir_fs": fs,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------- generic phases


@dataclass
class Load:
    """One saturating load: what was acked, when, and the highest position returned."""

    writes: int
    acked: int = 0
    errors: int = 0
    start_ns: int = 0
    end_ns: int = 0
    top: int = 0
    cpu_s: float = 0.0  # this driver process's CPU time during the load (all threads)
    ack_ns: list[int] = field(default_factory=list)
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def run_load(
    connect: Callable[[int], SendFn], writes: int, concurrency: int, batch: int, timeout: float
) -> Load:
    """``concurrency`` threads, thread ``t`` writing indices t, t+C, ... in ``batch``es.

    Connections are opened before a barrier so the clock starts with every client
    ready; the load ends when the last thread has its last ack (or the deadline passes,
    which leaves ``acked < writes`` for the caller to report).
    """
    result = Load(writes)
    threads = min(concurrency, writes)
    barrier = threading.Barrier(threads + 1)
    go = threading.Event()  # set once the clock and the deadline are fixed
    deadline_ns = [0]

    def worker(t: int) -> None:
        try:
            send = connect(t)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            with result.lock:
                result.first_error = result.first_error or f"connect: {exc!r}"
            barrier.abort()
            return
        mine = range(t, writes, threads)
        lat: list[int] = []
        acked = errors = top = 0
        first = ""
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        go.wait()
        for i in range(0, len(mine), batch):
            chunk = mine[i : i + batch]
            t0 = time.perf_counter_ns()
            if t0 > deadline_ns[0] or errors >= MAX_ERRORS_PER_THREAD:
                break
            try:
                top = max(top, send(chunk))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors += len(chunk)
                first = first or repr(exc)
                continue
            t1 = time.perf_counter_ns()
            acked += len(chunk)
            lat.extend([t1 - t0] * len(chunk))
        with result.lock:
            result.acked += acked
            result.errors += errors
            result.top = max(result.top, top)
            result.ack_ns.extend(lat)
            result.first_error = result.first_error or first

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    try:
        barrier.wait(timeout=30)  # every client connected
    except threading.BrokenBarrierError:
        go.set()
        raise BenchFailed(f"clients could not connect: {result.first_error}") from None
    cpu0 = time.process_time()
    result.start_ns = time.perf_counter_ns()
    deadline_ns[0] = result.start_ns + int(timeout * 1e9)
    go.set()
    for th in pool:
        th.join(timeout + 30)
    result.end_ns = time.perf_counter_ns()
    result.cpu_s = time.process_time() - cpu0
    return result


def wait_converged(check: Callable[[], bool], timeout: float) -> int | None:
    """perf_counter_ns when ``check`` first holds (polled every ~1 ms), None at timeout."""
    deadline = time.perf_counter_ns() + int(timeout * 1e9)
    while True:
        if check():
            return time.perf_counter_ns()
        if time.perf_counter_ns() > deadline:
            return None
        time.sleep(0.001)


@dataclass
class LatencyRun:
    """The paced phase's outcome: matched latencies and how well the pace was held."""

    visibility: Visibility
    writes: int
    errors: int
    achieved_rate: float


def run_latency(
    writer: Callable[[int], LatencyWriteFn],
    observers: Sequence[Callable[[], Observer]],
    rate: int,
    seconds: float,
    timeout: float,
) -> LatencyRun:
    """Open-loop writes at ``rate``/s from a few writer threads while one thread per
    member records when that member's stream reports each write; afterwards every write
    is matched to its first report on each other member (``visibility_latencies``).

    Writers stop issuing at twice the planned duration, so a system slower than the
    rate gets fewer writes (the achieved rate is reported), not a longer run.
    """
    total = max(1, int(rate * seconds))
    acks: list[tuple[int, int, int, int]] = []
    errors = [0]
    lock = threading.Lock()
    series: list[list[tuple[int, list[int]]]] = [[] for _ in observers]
    opened: list[Observer] = []
    stop = threading.Event()
    ready = threading.Barrier(LATENCY_WRITERS + len(observers) + 1)
    start_ns: list[int] = []
    go = threading.Event()  # set once start_ns is fixed, after every client connected
    deadline = time.monotonic() + seconds + timeout  # observers' hard stop

    def write_loop(w: int) -> None:
        try:
            send = writer(w)
        except Exception:  # noqa: BLE001 - the main thread reports the broken barrier
            ready.abort()
            return
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        go.wait()
        last_due = start_ns[0] + int(2 * seconds * 1e9)
        mine = []
        failed = 0
        for i in range(w, total, LATENCY_WRITERS):
            due = start_ns[0] + int(i * 1e9 / rate)
            now = time.perf_counter_ns()
            if now < due:
                time.sleep((due - now) / 1e9)
            if now > last_due or failed >= MAX_ERRORS_PER_THREAD or stop.is_set():
                break
            try:
                stream, position, origin = send(i)
            except Exception:  # noqa: BLE001 - counted and reported
                failed += 1
                continue
            mine.append((time.perf_counter_ns(), stream, position, origin))
        with lock:
            acks.extend(mine)
            errors[0] += failed

    def observe_loop(m: int) -> None:
        try:
            obs = observers[m]()
        except Exception:  # noqa: BLE001 - the main thread reports the broken barrier
            ready.abort()
            return
        with lock:
            opened.append(obs)
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        last: list[int] = []
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                got = obs.next()
            except Exception:  # noqa: BLE001 - stream ended (closed at stop): nothing more
                break
            t = time.perf_counter_ns()
            if got is not None and got != last:
                series[m].append((t, got))
                last = got

    writers = [
        threading.Thread(target=write_loop, args=(w,), daemon=True) for w in range(LATENCY_WRITERS)
    ]
    readers = [
        threading.Thread(target=observe_loop, args=(m,), daemon=True) for m in range(len(observers))
    ]
    for th in [*writers, *readers]:
        th.start()

    def close_all() -> None:
        stop.set()
        go.set()
        with lock:
            for obs in opened:
                try:
                    obs.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        for th in readers:
            th.join(5)

    try:
        ready.wait(timeout=30)  # every writer connected, every stream subscribed
    except threading.BrokenBarrierError:
        close_all()
        raise BenchFailed("latency clients could not connect or subscribe") from None
    start_ns.append(time.perf_counter_ns())
    go.set()
    for th in writers:
        th.join(seconds * 2 + timeout)
    writes_done = time.perf_counter_ns()
    with lock:
        done = list(acks)
    # What member m must reach in each stream: the top of the writes it did not originate.
    need: list[dict[int, int]] = [{} for _ in observers]
    for _, stream, position, origin in done:
        for m, tops in enumerate(need):
            if m != origin and position > tops.get(stream, 0):
                tops[stream] = position

    def caught_up() -> bool:
        for samples, tops in zip(series, need, strict=True):
            last = samples[-1][1] if samples else []
            if any(s >= len(last) or last[s] < top for s, top in tops.items()):
                return False
        return True

    try:
        wait_for(caught_up, timeout=min(timeout, 30), what="every member to see every write")
    except WaitTimeout:
        pass  # what was never seen is reported as unseen
    close_all()
    elapsed = (writes_done - start_ns[0]) / 1e9
    return LatencyRun(
        visibility=visibility_latencies(done, series),
        writes=len(done),
        errors=errors[0],
        achieved_rate=len(done) / elapsed if elapsed > 0 else 0.0,
    )


def _seconds(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else round((end_ns - start_ns) / 1e9, 3)


def _rate(count: int, start_ns: int, end_ns: int | None) -> float | None:
    """Writes per second from the load's start to ``end_ns``; None if it never came."""
    if end_ns is None or end_ns <= start_ns:
        return None
    return round(count / ((end_ns - start_ns) / 1e9), 1)


def _row(
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
        f"driver (this Python process) used {cores:.2f} of {os.cpu_count()} cores during the"
        " load: near 1.0 means the client, not the server, set the pace"
    )
    row: dict[str, Any] = {
        "system": system,
        "durability": durability,
        "writes_acked": load.acked,
        "load_s": round(load.seconds, 3),
        "converge_s": _seconds(load.end_ns, converged_ns),
        "throughput_acked_per_s": round(load.acked / load.seconds, 1) if load.seconds else None,
        "throughput_converged_per_s": _rate(load.acked, load.start_ns, converged_ns),
        "ack_latency_ms": summarize_ns(load.ack_ns),
        "driver_cpu_cores": round(load.cpu_s / load.seconds, 2) if load.seconds else None,
        "latency_ms": None,
        "notes": notes,
    }
    return row


def _attach_latency(row: dict[str, Any], latency: LatencyRun, how: str) -> None:
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


# ------------------------------------------------------------------------------- etcd


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class EtcdGateway:
    """One keep-alive HTTP/1.1 connection to one etcd member's v3 JSON gateway.

    etcd serves grpc-gateway on its client port (JSON, bytes as base64, int64 as
    strings). Native gRPC would need etcd's .proto files, which Debian does not ship,
    and the `etcd3` package is unmaintained; the gateway costs etcd some JSON work per
    request, which the notes say.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def call(self, path: str, body: bytes) -> dict[str, Any]:
        self.conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BenchFailed(f"etcd {path}: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data)

    def put(self, body: bytes) -> int:
        """A pre-encoded PutRequest; returns the revision it committed at."""
        return int(self.call("/v3/kv/put", body)["header"]["revision"])

    def revision(self, serializable: bool = True) -> int:
        """The member's applied revision; serializable = this member's own view, no quorum."""
        body = b'{"key":"AA==","count_only":true,"serializable":%s}' % (
            b"true" if serializable else b"false"
        )
        return int(self.call("/v3/kv/range", body)["header"]["revision"])

    def healthy(self) -> bool:
        self.conn.request("GET", "/health")
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status == 200 and json.loads(data).get("health") == "true"

    def close(self) -> None:
        self.conn.close()


class EtcdWatch:
    """A v3 Watch on one member through the gateway's streaming ``POST /v3/watch``.

    The member sends an event as it applies a write, one JSON object per line of a
    chunked response, so the arrival time is apply time plus one loopback hop with no
    poll interval; the header revision says how far that member has applied.
    """

    def __init__(self, port: int, key: bytes) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=10)
        body = json.dumps({"create_request": {"key": _b64(key)}}).encode()
        self.conn.request("POST", "/v3/watch", body, {"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise BenchFailed(f"etcd watch: HTTP {self.resp.status}")
        created = json.loads(self.resp.readline()).get("result", {})
        if not created.get("created"):
            raise BenchFailed(f"etcd watch was not created: {created}")
        if self.conn.sock is not None:
            self.conn.sock.settimeout(None)  # idle is fine; close() ends the wait

    def next(self) -> list[int] | None:
        line = self.resp.readline()
        if not line:
            raise EOFError("etcd watch stream ended")
        result = json.loads(line).get("result", {})
        if not result.get("events"):
            return None
        return [int(result["header"]["revision"])]

    def close(self) -> None:
        if self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


def _put_body(key: bytes, value_b64: str) -> bytes:
    return f'{{"key":"{_b64(key)}","value":"{value_b64}"}}'.encode()


def start_etcd(group: ProcessGroup, root: Path, timeout: float, members: int = 3) -> list[int]:
    """A fresh ``members``-node etcd cluster on loopback; returns the client ports once
    every member reports healthy (it has a leader), which is etcd's own readiness."""
    ports = free_ports(2 * members)
    client, peer = ports[:members], ports[members:]
    names = [f"etcd{i}" for i in range(members)]
    initial = ",".join(f"{n}=http://{HOST}:{p}" for n, p in zip(names, peer, strict=True))
    for name, c, p in zip(names, client, peer, strict=True):
        group.start(
            name,
            [
                "etcd", "--name", name, "--data-dir", str(root / name), "--logger", "zap",
                "--listen-client-urls", f"http://{HOST}:{c}",
                "--advertise-client-urls", f"http://{HOST}:{c}",
                "--listen-peer-urls", f"http://{HOST}:{p}",
                "--initial-advertise-peer-urls", f"http://{HOST}:{p}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", root.name,
            ],
        )  # fmt: skip

    def all_healthy() -> bool:
        group.check_alive()
        for c in client:
            gw = EtcdGateway(c, timeout=2)
            try:
                if not gw.healthy():
                    return False
            finally:
                gw.close()
        return True

    wait_for(all_healthy, timeout=timeout, what="every etcd member to report healthy")
    return client


def bench_etcd(
    group: ProcessGroup, root: Path, w: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """etcd: load spread round-robin over members, converge on revisions, then latency."""
    ports = start_etcd(group, root, w["timeout"])
    log(f"etcd: 3 members up on client ports {ports}")
    value_b64 = _b64(_value(w["value_size"]))
    bodies = [_put_body(k, value_b64) for k in _keys(w["keys"])]
    nkeys = w["keys"]

    def connect(t: int) -> SendFn:
        gw = EtcdGateway(ports[t % len(ports)])
        gw.revision()  # connected before the clock starts

        def send(chunk: Sequence[int]) -> int:
            return max(gw.put(bodies[j % nkeys]) for j in chunk)

        return send

    load = run_load(connect, w["writes"], w["concurrency"], 1, w["timeout"])
    log(f"etcd: {load.acked:,} writes acked in {load.seconds:.2f} s; waiting for every member")
    members = [EtcdGateway(p) for p in ports]
    converged = wait_converged(lambda: all(m.revision() >= load.top for m in members), w["timeout"])
    for m in members:
        m.close()

    def writer(_w: int) -> LatencyWriteFn:
        gws = [EtcdGateway(p) for p in ports]

        def send(i: int) -> tuple[int, int, int]:
            m = i % len(gws)
            return 0, gws[m].put(_put_body(b"lat", _b64(str(i).encode()))), m

        return send

    def watcher(port: int) -> Callable[[], Observer]:
        return lambda: EtcdWatch(port, b"lat")

    log(f"etcd: latency at {w['latency_rate']}/s for {w['latency_seconds']} s")
    latency = run_latency(
        writer, [watcher(p) for p in ports], w["latency_rate"], w["latency_seconds"], w["timeout"]
    )
    notes = [
        f"3 members; {w['concurrency']} HTTP/1.1 keep-alive connections to the v3 JSON "
        "gateway, spread round-robin over members (followers forward to the leader)",
        "converged = every member's serializable revision >= the top acked revision",
    ]
    row = _row("etcd", ETCD_DURABILITY, load, converged, notes)
    _attach_latency(row, latency, "a v3 Watch stream per member (gateway, chunked JSON)")
    return row


# ------------------------------------------------------------------------------ redis


def start_redis(group: ProcessGroup, root: Path, timeout: float, redis: Any) -> list[int]:
    """A primary and two replicas with persistence off; returns [primary, *replicas]
    once both replicas' links are up and the primary lists them online."""
    ports = free_ports(3)
    for i, port in enumerate(ports):
        data = root / f"redis{i}"
        data.mkdir()
        argv = [
            "redis-server", "--port", str(port), "--bind", HOST, "--dir", str(data),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if i:
            argv += ["--replicaof", HOST, str(ports[0])]
        group.start(f"redis{i}", argv)

    def linked() -> bool:
        group.check_alive()
        info = redis.Redis(host=HOST, port=ports[0], socket_timeout=2).info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        if len(online) != 2 or any(s.get("state") != "online" for s in online):
            return False
        return all(
            redis.Redis(host=HOST, port=p, socket_timeout=2).info("replication")
            .get("master_link_status") == "up"
            for p in ports[1:]
        )  # fmt: skip

    wait_for(linked, timeout=timeout, what="both Redis replicas to link to the primary")
    return ports


class RedisKeyspace:
    """Keyspace notifications from one Redis server for the latency writers' keys.

    The primary fires them as it executes a SET and a replica as it applies the
    primary's stream, in order; each writer
    SETs its own key ``lat:<w>`` with sequential writes, so the n-th ``set`` on
    ``lat:<w>`` means the replica holds that writer's write n. Notifications are
    enabled only for this phase, so they cost the throughput runs nothing.
    """

    def __init__(self, redis: Any, port: int, writers: int) -> None:
        self.client = redis.Redis(host=HOST, port=port, socket_timeout=10)
        self.client.config_set("notify-keyspace-events", "K$")
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("__keyspace@0__:lat:*")
        deadline = time.monotonic() + 10
        while (msg := self.pubsub.get_message(timeout=1)) is None or msg["type"] != "psubscribe":
            if time.monotonic() > deadline:
                raise BenchFailed(f"redis replica {port}: no psubscribe confirmation")
        self.counts = [0] * writers

    def next(self) -> list[int] | None:
        msg = self.pubsub.get_message(timeout=0.2)
        if msg is None or msg["type"] != "pmessage" or msg["data"] != b"set":
            return None
        self.counts[int(msg["channel"].rsplit(b":", 1)[1])] += 1
        return list(self.counts)

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


def bench_redis(
    group: ProcessGroup, root: Path, w: dict[str, Any], redis: Any, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Redis: one unpipelined and one pipelined load on the primary, then latency."""
    ports = start_redis(group, root, w["timeout"], redis)
    log(f"redis: primary {ports[0]}, replicas {ports[1:]}")
    keys = _keys(w["keys"])
    value = _value(w["value_size"])
    nkeys = w["keys"]

    def client(port: int) -> Any:
        return redis.Redis(host=HOST, port=port, socket_timeout=10, single_connection_client=True)

    clients = [client(p) for p in ports]

    def replicated() -> bool:
        top = clients[0].info("replication")["master_repl_offset"]
        return all(c.info("replication")["slave_repl_offset"] >= top for c in clients[1:])

    def connect_plain(t: int) -> SendFn:
        r = client(ports[0])
        r.ping()

        def send(chunk: Sequence[int]) -> int:
            for j in chunk:
                r.set(keys[j % nkeys], value)
            return 0

        return send

    def connect_piped(t: int) -> SendFn:
        r = client(ports[0])
        r.ping()

        def send(chunk: Sequence[int]) -> int:
            pipe = r.pipeline(transaction=False)
            for j in chunk:
                pipe.set(keys[j % nkeys], value)
            pipe.execute()
            return 0

        return send

    rows = []
    for label, connect, batch in (
        ("redis", connect_plain, 1),
        (f"redis pipelined {PIPELINE}", connect_piped, PIPELINE),
    ):
        clients[0].flushall()
        if wait_converged(replicated, w["timeout"]) is None:
            raise BenchFailed("Redis replicas did not catch up after FLUSHALL")
        load = run_load(connect, w["writes"], w["concurrency"], batch, w["timeout"])
        log(f"{label}: {load.acked:,} writes acked in {load.seconds:.2f} s; waiting for replicas")
        top = clients[0].info("replication")["master_repl_offset"]
        converged = wait_converged(
            lambda top=top: all(
                c.info("replication")["slave_repl_offset"] >= top for c in clients[1:]
            ),
            w["timeout"],
        )
        how = (
            f"pipelines of {PIPELINE} SETs (no MULTI) per round trip; a write's ack is its batch's"
            if batch > 1
            else "one SET per round trip, no pipelining"
        )
        notes = [
            f"{w['concurrency']} redis-py connections to the primary; {how}",
            "converged = both replicas' slave_repl_offset >= primary master_repl_offset",
        ]
        rows.append(_row(label, REDIS_DURABILITY, load, converged, notes))

    def writer(wi: int) -> LatencyWriteFn:
        r = client(ports[0])
        key = f"lat:{wi}"

        def send(i: int) -> tuple[int, int, int]:
            seq = i // LATENCY_WRITERS + 1
            r.set(key, seq)
            return wi, seq, 0  # member 0 of the observers: the primary

        return send

    def watcher(port: int) -> Callable[[], Observer]:
        return lambda: RedisKeyspace(redis, port, LATENCY_WRITERS)

    log(f"redis: latency at {w['latency_rate']}/s for {w['latency_seconds']} s")
    latency = run_latency(
        writer, [watcher(p) for p in ports], w["latency_rate"], w["latency_seconds"],
        w["timeout"],
    )  # fmt: skip
    _attach_latency(
        rows[0], latency, "keyspace notifications (pub/sub) on the primary and each replica"
    )
    for c in clients:
        c.close()
    return rows


# -------------------------------------------------------------------------- top level


def _keys(n: int) -> list[bytes]:
    return [b"bench:%08d" % i for i in range(n)]


def _value(size: int) -> bytes:
    """Deterministic bytes that do not compress to nothing (neither system compresses)."""
    return bytes((i * 131 + 7) % 256 for i in range(size))


def _log(msg: str) -> None:
    print(f"[bench-peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_peers(
    writes: int = 20_000,
    value_size: int = 100,
    keys: int = 10_000,
    concurrency: int = 16,
    *,
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
    ensure_servers(install, log)
    redis = _import_redis() if only != "etcd" else None
    root = Path(tempfile.mkdtemp(prefix="remesh-peers-", dir=tmp))
    workload = {
        "writes": writes,
        "value_size": value_size,
        "keys": keys,
        "concurrency": concurrency,
        "latency_rate": latency_rate,
        "latency_seconds": latency_seconds,
        "timeout": timeout,
    }
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workload": workload,
        "machine": machine_info(root),
        "versions": {
            "etcd": _version(["etcd", "--version"]),
            "redis-server": _version(["redis-server", "--version"]),
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
                result["systems"].append(_failed("etcd", ETCD_DURABILITY, exc))
            result["leftovers"] += group.stop()
        if only in (None, "redis"):
            try:
                result["systems"] += bench_redis(group, root, workload, redis, log)
            except (BenchFailed, WaitTimeout, OSError, redis.RedisError) as exc:
                result["systems"].append(_failed("redis", REDIS_DURABILITY, exc))
    finally:
        result["leftovers"] += group.stop()
        atexit.unregister(group.stop)
        shutil.rmtree(root, ignore_errors=True)
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if result["leftovers"]:
        log(f"had to SIGKILL leftovers: {result['leftovers']}")
    return result


def _failed(system: str, durability: str, exc: BaseException) -> dict[str, Any]:
    return {
        "system": system,
        "durability": durability,
        "throughput_acked_per_s": None,
        "throughput_converged_per_s": None,
        "latency_ms": None,
        "error": str(exc),
        "notes": [f"FAILED: {str(exc)[:300]}"],
    }


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
