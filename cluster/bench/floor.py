"""What gRPC itself costs on this machine: the floor under every remesh write.

A remesh ``Put`` is one unary call (client and node), then one stream message to each
replica (sent by the origin, read by the replica); a write on a ``Writes`` stream is a
message each way instead of the call. This measures those shapes with handlers that do
nothing, in separate processes on loopback, as CPU microseconds per
call or message on each side, so a per-write figure from ``cluster bench`` can be read
against what the transport alone costs here (docs/performance.md).

It also times one stream message from send to receipt, paced at ``LATENCY_RATE`` a
second on an otherwise idle pair of processes: the transport's share of a replicated
write's latency (a remesh write takes one such hop from origin to replica; the p50 goal
of the performance issue is 1 ms).

``python -m cluster.bench.floor`` prints it; ``bench_floor`` is the bench section.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

import grpc

from cluster.backends.procfs import cpu_seconds
from cluster.bench.phases import reap
from cluster.ports import free_ports
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

ENTRY = pb.Entry(origin="node-a@0", seq=1, hlc=1, op=pb.PUT, key=b"k" * 10, value=b"v" * 100)


LATENCY_RATE = 100  # stream messages a second when timing one hop


class _KV(pb_grpc.KVServicer):
    def __init__(self, paced: int) -> None:
        self.paced = paced

    async def Put(self, request: pb.PutRequest, context: Any) -> pb.WriteResponse:
        return pb.WriteResponse(version=pb.Version(hlc=1, origin="node-a@0", seq=1))

    async def Writes(self, requests: Any, context: Any) -> Any:
        async for _ in requests:
            yield pb.WriteResult(version=pb.Version(hlc=1, origin="node-a@0", seq=1))

    async def Watch(self, request: pb.WatchRequest, context: Any) -> Any:
        """``paced`` messages at LATENCY_RATE a second, each stamped as it is handed to
        gRPC (the wall clock both processes share)."""
        due = time.monotonic()
        for _ in range(self.paced):
            due += 1 / LATENCY_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            change = pb.Change(entry=ENTRY, applied_unix_ns=time.time_ns())
            yield pb.Changes(changes=[change])


class _Replication(pb_grpc.ReplicationServicer):
    def __init__(self, messages: int) -> None:
        self.messages = messages

    async def Replicate(self, requests: Any, context: Any) -> Any:
        await requests.__anext__()
        msg = pb.ServerMessage(batch=pb.Batch(entries=[ENTRY]))
        for _ in range(self.messages):
            yield msg


def _serve(port: int, messages: int, ready: Any, paced: int = 0) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        pb_grpc.add_KVServicer_to_server(_KV(paced), server)
        pb_grpc.add_ReplicationServicer_to_server(_Replication(messages), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(main())


async def _unary(address: str, calls: int, concurrency: int) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.KVStub(channel)
        request = pb.PutRequest(key=b"k" * 10, value=b"v" * 100)

        async def slot(n: int) -> None:
            for _ in range(n):
                await stub.Put(request, timeout=30)

        await asyncio.gather(*(slot(calls // concurrency) for _ in range(concurrency)))


async def _stream_writes(address: str, calls: int, concurrency: int) -> None:
    """``concurrency`` Writes streams, each a write then its answer, as the bench sends."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.KVStub(channel)
        write = pb.Write(op=pb.PUT, key=b"k" * 10, value=b"v" * 100)

        async def slot(n: int) -> None:
            call = stub.Writes()
            for _ in range(n):
                await call.write(write)
                await call.read()
            await call.done_writing()

        await asyncio.gather(*(slot(calls // concurrency) for _ in range(concurrency)))


async def _stream(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.ReplicationStub(channel).Replicate()
        await call.write(pb.SubscriberMessage())
        n = 0
        async for _ in call:
            n += 1
        return n


async def _one_way(address: str) -> list[float]:
    """Milliseconds from each paced message's stamp to its receipt here."""
    async with grpc.aio.insecure_channel(address) as channel:
        out = []
        async for msg in pb_grpc.KVStub(channel).Watch(pb.WatchRequest()):
            out.append((time.time_ns() - msg.changes[0].applied_unix_ns) / 1e6)
        return out


def bench_floor(
    calls: int = 4000, messages: int = 20_000, concurrency: int = 8, paced: int = 500
) -> dict:
    """CPU us per unary call, per write on a Writes stream (a message each way) and per
    stream message, server and client side; and the
    one-way time of ``paced`` stream messages sent at LATENCY_RATE a second."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    (port,) = free_ports(1)
    server = ctx.Process(target=_serve, args=(port, messages, ready, paced), daemon=True)
    server.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the gRPC floor server did not start")
        address = f"127.0.0.1:{port}"
        out = {}
        for name, run, count in (
            ("unary_put", lambda: _unary(address, calls, concurrency), calls),
            ("stream_write", lambda: _stream_writes(address, calls, concurrency), calls),
            ("stream_message", lambda: _stream(address), messages),
        ):
            s0, c0, t0 = cpu_seconds(server.pid or 0) or 0.0, time.process_time(), time.monotonic()
            asyncio.run(run())
            took = time.monotonic() - t0
            s1, c1 = cpu_seconds(server.pid or 0) or 0.0, time.process_time()
            out[name] = {
                "count": count,
                "per_s": round(count / took),
                "server_cpu_us": round((s1 - s0) * 1e6 / count, 1),
                "client_cpu_us": round((c1 - c0) * 1e6 / count, 1),
            }
        ms = sorted(asyncio.run(_one_way(address)))
        out["stream_message_latency"] = {
            "count": len(ms),
            "rate": LATENCY_RATE,
            "p50_ms": round(ms[len(ms) // 2], 3),
            "p99_ms": round(ms[min(len(ms) - 1, len(ms) * 99 // 100)], 3),
        }
        return out
    finally:
        server.kill()
        reap([server])


if __name__ == "__main__":
    print(json.dumps(bench_floor(), indent=2))
