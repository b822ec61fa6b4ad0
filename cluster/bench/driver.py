"""The load generator: spawned client processes, each an asyncio loop on one gRPC channel.

One Python process cannot drive a cluster on the same machine: a gRPC call costs the
client about as much CPU as the node (docs/benchmarks.md), and threads share one GIL.
So load comes from ``processes`` spawned processes, each running ``concurrency`` calls
in flight on ``grpc.aio`` (no thread switches per call), and every process reports the
CPU it used. A process that used most of a core was itself a bottleneck: the figure then
measures the generator, not the cluster, and ``Generated.saturated`` says so.

Two shapes:

- ``closed_loop``: each in-flight slot sends its next request when the last is acked
  (throughput: as fast as the cluster acknowledges);
- ``paced``: open loop at a fixed rate (latency): request ``i`` is due at
  ``start + i / rate`` whatever the answers do; ``Generated.reached_per_s`` is what was
  actually offered, and ``behind`` says when that fell short of the target.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import grpc

from cluster.bench.phases import reap
from cluster.client import aio_channel
from cluster.errors import OperationFailed
from cluster.secrets import Credentials
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

SATURATED = 0.85  # a generator process busier than this share of one core limited the run
REACHED = 0.95  # a paced run that offered less than this share of its rate fell behind
MAX_INFLIGHT = 64  # paced: outstanding requests per process before it waits (then it falls behind)
RETRIES = 3  # a transient failure under CPU contention must not void a run
# Seen on a 2-core machine at load 10+: UNAVAILABLE, and bursts of CANCELLED for every
# call in flight on a channel. Each retry is said on stderr; a third failure ends the run.
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


@dataclass(frozen=True)
class Target:
    """One process's node: its name (the TLS name) and address."""

    name: str
    address: str


@dataclass(frozen=True)
class Work:
    """What one generator process sends: keys ``<prefix><i % keys>``, ``batch`` writes per
    request (1: a ``Put`` per request, or with ``stream`` one message of a ``Writes``
    stream per write; more: ``PutBatch``)."""

    prefix: str
    keys: int
    batch: int
    value_size: int
    # Each write its own random value: one value for every write would let LevelDB's
    # block compression shrink stored data far below its real size (soak-disk).
    distinct: bool = False
    stream: bool = False

    @property
    def single(self) -> Any:
        """The message of one unbatched write: a Writes stream message, or a Put."""
        return pb.Write if self.stream else pb.PutRequest


@dataclass
class Generated:
    """What the processes did, summed: acked writes, time, and the generator's own cost."""

    acked: int = 0
    seconds: float = 0.0
    cpu_s: list[float] = field(default_factory=list)  # per process
    sent: list[int] = field(default_factory=list)  # paced: writes each process sent
    target_per_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    @property
    def busiest(self) -> float:
        """The busiest process's CPU share of one core while it ran."""
        return max(self.cpu_s) / self.seconds if self.cpu_s and self.seconds else 0.0

    @property
    def saturated(self) -> bool:
        return self.busiest >= SATURATED

    @property
    def reached_per_s(self) -> float:
        return sum(self.sent) / self.seconds if self.seconds else 0.0

    @property
    def behind(self) -> str:
        """Why the run does not measure its target rate ('' when it does)."""
        if self.target_per_s and self.reached_per_s < REACHED * self.target_per_s:
            return (
                f"the load generator offered {self.reached_per_s:.0f} writes/s of the "
                f"{self.target_per_s:.0f} asked for"
            )
        return ""

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "processes": len(self.cpu_s),
            "generator_cpu_per_write_us": round(sum(self.cpu_s) * 1e6 / self.acked)
            if self.acked
            else None,
            "generator_busiest_core_share": round(self.busiest, 2),
            "generator_saturated": self.saturated,
        }
        if self.target_per_s:
            out["writes"] = sum(self.sent)
            out["target_per_s"] = round(self.target_per_s)
            out["offered_per_s"] = round(self.reached_per_s)
            out["behind"] = self.behind
        return out


def _requests(work: Work) -> list[Any]:
    """Requests built once and cycled: the generator spends its CPU sending."""
    value = os.urandom(work.value_size // 2 + 1).hex()[: work.value_size].encode()

    def fresh() -> bytes:
        if not work.distinct:
            return value
        return os.urandom(work.value_size // 2 + 1).hex()[: work.value_size].encode()

    n = max(1, min(work.keys, max(1000, 50 * work.batch)))
    keys = [f"{work.prefix}{i % work.keys}".encode() for i in range(n)]
    if work.batch == 1:
        return [work.single(key=k, value=fresh()) for k in keys]
    return [
        pb.PutBatchRequest(
            writes=[
                pb.Write(op=pb.PUT, key=keys[(i + j) % n], value=fresh()) for j in range(work.batch)
            ]
        )
        for i in range(0, n, work.batch)
    ]


async def _retrying(send: Callable[[], Awaitable[int]]) -> int:
    """``send()`` once, again after a transient refusal (RETRIES tries, backing off)."""
    for attempt in range(RETRIES):
        try:
            return await send()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in TRANSIENT or attempt == RETRIES - 1:
                raise
            print(f"load client: {exc.details()}; retrying", file=sys.stderr, flush=True)
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def _call(stub: Any, request: Any, metadata: Any) -> int:
    """Send one request; its write count once acked. Retries a transient refusal."""
    single = isinstance(request, pb.PutRequest)
    rpc = stub.Put if single else stub.PutBatch

    async def once() -> int:
        await rpc(request, metadata=metadata, timeout=60)
        return 1 if single else len(request.writes)

    return await _retrying(once)


class _Streams:
    """Single writes as messages on ``Writes`` streams, one write in flight per stream
    (each answered before its stream carries the next, as an unpipelined Redis
    connection): as many streams open as writes in flight."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self.stub, self.metadata = stub, metadata
        self.idle: list[Any] = []

    async def send(self, write: pb.Write) -> int:
        return await _retrying(lambda: self._once(write))

    async def _once(self, write: pb.Write) -> int:
        call = self.idle.pop() if self.idle else self.stub.Writes(metadata=self.metadata)
        try:
            await call.write(write)
            result = await call.read()
        except grpc.aio.AioRpcError:
            call.cancel()  # a broken stream is not reused
            raise
        if result is grpc.aio.EOF:
            raise OperationFailed("the node ended a Writes stream without an answer")
        self.idle.append(call)
        if result.error:
            raise OperationFailed(f"a write was refused: {result.error}")
        return 1


def _sender(stub: Any, work: Work, metadata: Any) -> Callable[[Any], Coroutine[Any, Any, int]]:
    """How one request is sent: a message on a stream, or a unary call."""
    if work.stream and work.batch == 1:
        return _Streams(stub, metadata).send
    return lambda request: _call(stub, request, metadata)


async def _closed(
    target: Target, work: Work, concurrency: int, seconds: float, total: int, creds: Any
) -> tuple[int, int, float]:
    requests = _requests(work)
    acked = claimed = 0
    async with aio_channel(target.name, target.address, creds) as (channel, metadata):
        stub = pb_grpc.KVStub(channel)
        send = _sender(stub, work, metadata)
        start = await _ready(channel)
        deadline = start + seconds

        async def slot(i: int) -> None:
            nonlocal acked, claimed
            while time.monotonic() < deadline and (not total or claimed < total):
                request = requests[i % len(requests)]
                i += concurrency
                if total:
                    n = len(request.writes) if work.batch > 1 else 1
                    if total - claimed < n:
                        request = pb.PutBatchRequest(writes=request.writes[: total - claimed])
                    claimed += min(n, total - claimed)
                done = await send(request)
                acked += done  # not `acked += await ...`: that reads acked before the await

        await asyncio.gather(*(slot(i) for i in range(concurrency)))
    return acked, 0, time.monotonic() - start


async def _paced(
    target: Target, work: Work, rate: float, index: int, every: int, count: int, creds: Any
) -> tuple[int, int, float]:
    """Send requests ``index, index + every, ...`` (< ``count``), request ``i`` at
    ``start + i / rate``; stop issuing at twice the planned time. Request ``i`` writes
    key ``<prefix><i>`` (a PutBatch: ``<prefix><i>.<j>``). A failed write fails the run
    (its keys would never be seen), with the first failure's own error."""
    value = b"x" * work.value_size
    inflight: set[asyncio.Task[int]] = set()
    acked = sent = 0
    failures: list[BaseException] = []

    def finished(task: asyncio.Task[int]) -> None:
        nonlocal acked
        inflight.discard(task)
        if task.cancelled():
            failures.append(OperationFailed("a write was cancelled before its answer"))
        elif task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]
        else:
            acked += task.result()

    async with aio_channel(target.name, target.address, creds) as (channel, metadata):
        stub = pb_grpc.KVStub(channel)
        send = _sender(stub, work, metadata)
        start = await _ready(channel)
        stop = start + 2 * count / rate
        sending = 0.0
        for i in range(index, count, every):
            due = start + i / rate
            now = time.monotonic()
            if now < due:
                await asyncio.sleep(due - now)  # pacing the offered load
            if now > stop or failures:
                break
            while len(inflight) >= MAX_INFLIGHT:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
            key = f"{work.prefix}{i}".encode()
            if work.batch == 1:
                request: Any = work.single(key=key, value=value)
            else:
                request = pb.PutBatchRequest(
                    writes=[
                        pb.Write(op=pb.PUT, key=key + b".%d" % j, value=value)
                        for j in range(work.batch)
                    ]
                )
            task = asyncio.ensure_future(send(request))
            task.add_done_callback(finished)
            inflight.add(task)
            sent += work.batch
            sending = time.monotonic() - start
        while inflight:
            await asyncio.wait(inflight)
    if failures:
        raise failures[0]
    return acked, sent, sending


_start: Any = None  # the generator processes' shared start barrier (set in each process)
_cpu0 = [0.0]


async def _ready(channel: grpc.aio.Channel) -> float:
    """Connected: wait for every other generator process, then start the clock."""
    await asyncio.wait_for(channel.channel_ready(), 30)
    if _start is not None:
        # In a thread: a loop blocked for seconds cannot answer the node's keepalive
        # pings, and the node then drops the connection with every call on it.
        await asyncio.get_running_loop().run_in_executor(None, _start.wait, 60)
    _cpu0[0] = time.process_time()
    return time.monotonic()


Runner = Callable[..., Coroutine[Any, Any, tuple[int, int, float]]]  # _closed or _paced


def _process(index: int, runner: Runner, args: tuple[Any, ...], start: Any, out: Any) -> None:
    global _start
    _start = start
    try:
        acked, sent, took = asyncio.run(runner(*args))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        start.abort()
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    out.put(("ok", (index, acked, sent, took, time.process_time() - _cpu0[0])))


def _run(jobs: Sequence[tuple[Runner, tuple[Any, ...]]], limit: float) -> Generated:
    """Run the generator processes; every one is gone when this returns."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(len(jobs) + 1)
    procs = [
        ctx.Process(target=_process, args=(i, runner, a, start, out))
        for i, (runner, a) in enumerate(jobs)
    ]
    for p in procs:
        p.start()
    result = Generated(sent=[0] * len(jobs), cpu_s=[0.0] * len(jobs))
    try:
        try:
            start.wait(120)  # every process imported, connected and ready
        except threading.BrokenBarrierError:
            pass  # a process failed: its error is in the queue
        deadline = time.monotonic() + limit
        took: list[float] = []
        while len(took) < len(procs):
            try:
                status, payload = out.get(timeout=0.5)
            except queue.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    raise OperationFailed(
                        f"load client(s) died (exit codes {dead}) or ran past {limit:.0f} s"
                    ) from None
                continue
            if status == "error":
                raise OperationFailed(f"a load client failed: {payload}")
            index, acked, sent, seconds, cpu = payload
            result.acked += acked
            result.sent[index] = sent  # by process: paced_keys needs each one's own count
            result.cpu_s[index] = cpu
            took.append(seconds)
        result.seconds = max(took)
    finally:
        reap(procs)
    return result


def closed_loop(
    targets: Sequence[Target],
    work: Work,
    processes: int,
    concurrency: int,
    seconds: float,
    total: int = 0,
    credentials: Credentials | None = None,
) -> Generated:
    """``processes`` writers spread over ``targets``, ``concurrency`` requests in flight
    each, until ``seconds`` pass or ``total`` writes are acked (0: no limit)."""
    per = -(-total // processes) if total else 0
    keys = max(1, work.keys // processes)
    jobs: list[tuple[Runner, tuple[Any, ...]]] = [
        (
            _closed,
            (
                targets[p % len(targets)],
                replace(work, prefix=f"{work.prefix}{p}/", keys=keys),
                concurrency,
                seconds,
                per,
                credentials,
            ),
        )
        for p in range(processes)
    ]
    return _run(jobs, seconds + 600)


def paced(
    target: Target,
    work: Work,
    rate: float,
    seconds: float,
    processes: int = 2,
    credentials: Credentials | None = None,
) -> Generated:
    """Open-loop writes of ``work.batch`` keys per request to one node at ``rate``
    writes/s for ``seconds``; request ``i`` writes ``<prefix><i>`` (see ``_paced``)."""
    per_s = rate / work.batch
    count = max(1, int(per_s * seconds))
    jobs: list[tuple[Runner, tuple[Any, ...]]] = [
        (_paced, (target, work, per_s, p, processes, count, credentials)) for p in range(processes)
    ]
    result = _run(jobs, 2 * seconds + 600)
    result.target_per_s = rate
    return result


def paced_keys(work: Work, result: Generated) -> list[bytes]:
    """The keys a paced run wrote (process p sent requests p, p + P, ...)."""
    every = len(result.sent)
    keys = []
    for p, sent in enumerate(result.sent):
        for n in range(sent // work.batch):
            key = f"{work.prefix}{p + n * every}".encode()
            if work.batch == 1:
                keys.append(key)
            else:
                keys.extend(key + b".%d" % j for j in range(work.batch))
    return keys
