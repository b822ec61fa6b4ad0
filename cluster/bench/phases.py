"""The generic phases the etcd and Redis benches share: a saturating load and a paced
latency run, each driven by threads in this process with ``perf_counter_ns`` timestamps."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cluster.bench.stats import Visibility, visibility_latencies
from cluster.errors import OperationFailed
from cluster.wait import WaitTimeout, wait_for

LATENCY_WRITERS = 16  # etcd takes 5-20 ms per put on a loaded 2-core machine: 1000/s needs 16
MAX_ERRORS_PER_THREAD = 100

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


class BenchFailed(OperationFailed):
    """A server did not start, or a phase could not finish in time (the CLI's exit 1)."""


@dataclass
class Load:
    """One saturating load: what was acked, when, and the highest position returned."""

    writes: int
    acked: int = 0
    errors: int = 0
    start_ns: int = 0
    end_ns: int = 0
    top: int = 0
    cpu_s: float = 0.0  # the busiest driver process's CPU time during the load
    cpu_total_s: float = 0.0  # every driver process's together
    ack_ns: list[int] = field(default_factory=list)
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def __getstate__(self) -> dict[str, Any]:
        """A load process sends its Load to the parent: everything but the lock."""
        return {k: v for k, v in self.__dict__.items() if k != "lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, lock=threading.Lock())


def run_load(
    connect: Callable[[int], SendFn],
    writes: int,
    concurrency: int,
    batch: int,
    timeout: float,
    processes: int = 1,
) -> Load:
    """``concurrency`` threads, thread ``t`` writing indices t, t+C, ... in ``batch``es,
    spread over ``processes`` forked processes (one Python process's GIL would otherwise
    set the pace: ``Load.cpu_s`` is the busiest process's CPU time).

    Connections are opened before a barrier so the clock starts with every client
    ready; the load ends when the last thread has its last ack (or the deadline passes,
    which leaves ``acked < writes`` for the caller to report).
    """
    threads = min(concurrency, writes)
    processes = max(1, min(processes, threads))
    if processes == 1:
        return _threads(connect, writes, list(range(threads)), threads, batch, timeout, None)
    # fork: the children inherit ``connect`` (a closure) and share nothing else with us.
    ctx = mp.get_context("fork")
    start = ctx.Barrier(processes + 1)
    out = ctx.Queue()

    def child(tids: list[int]) -> None:
        try:
            load = _threads(connect, writes, tids, threads, batch, timeout, start)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            start.abort()
            out.put(("error", repr(exc)))
            return
        out.put(("ok", load))

    procs = [
        ctx.Process(target=child, args=([t for t in range(threads) if t % processes == p],))
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    result = Load(writes)
    try:
        try:
            start.wait(timeout=60)  # every process connected
        except threading.BrokenBarrierError:
            pass  # a child failed: its error is in the queue
        result.start_ns = time.perf_counter_ns()
        for _ in procs:
            status, got = out.get(timeout=timeout + 90)
            if status == "error":
                raise BenchFailed(f"a load process failed: {got}")
            result.acked += got.acked
            result.errors += got.errors
            result.top = max(result.top, got.top)
            result.ack_ns.extend(got.ack_ns)
            result.cpu_s = max(result.cpu_s, got.cpu_s)
            result.cpu_total_s += got.cpu_total_s
            result.first_error = result.first_error or got.first_error
        result.end_ns = time.perf_counter_ns()
    finally:
        reap(procs)
    return result


def reap(procs: Sequence[Any], grace: float = 10) -> None:
    """Join load processes; kill one still running after ``grace`` s: none outlives a run."""
    for proc in procs:
        proc.join(grace)
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def _threads(
    connect: Callable[[int], SendFn],
    writes: int,
    tids: list[int],
    stride: int,
    batch: int,
    timeout: float,
    outer: Any,
) -> Load:
    """Threads ``tids`` of ``stride``: thread ``t`` writes indices t, t+stride, ...
    ``outer``: a barrier shared with the parent process (None: this is the only one)."""
    result = Load(writes)
    barrier = threading.Barrier(len(tids) + 1)
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
        mine = range(t, writes, stride)
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

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in tids]
    for th in pool:
        th.start()
    try:
        barrier.wait(timeout=30)  # every client connected
        if outer is not None:
            outer.wait(timeout=60)  # and every other process's
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
    result.cpu_s = result.cpu_total_s = time.process_time() - cpu0
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


def make_keys(n: int) -> list[bytes]:
    return [b"bench:%08d" % i for i in range(n)]


def make_value(size: int) -> bytes:
    """Deterministic bytes that do not compress to nothing (neither system compresses)."""
    return bytes((i * 131 + 7) % 256 for i in range(size))
