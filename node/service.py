"""gRPC servicers: the client-facing KV service and the server side of replication.

Both are thin: they translate messages to and from the replica and map bad
input onto gRPC status codes with messages a person can act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from node.config import NAME_RE
from node.core import Cursor
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.replica import BadRequest, CommitFailed, InboundStats, Replica, Watcher
from node.store import Record

log = logging.getLogger("node.service")

PROTOCOL = 1
MAX_BATCH_BYTES = 4 << 20
WATCH_BATCH = 64  # commits per Watch message at most


async def quietly_cancelled(stream: AsyncIterator) -> AsyncIterator:
    """Relay a server stream; cancellation (the client left, the server is stopping)
    is the normal end of a long-lived stream, not an error for grpc to log."""
    try:
        async for item in stream:
            yield item
    except asyncio.CancelledError:
        log.debug("stream cancelled")


def version_of(rec: Record) -> pb.Version:
    return pb.Version(hlc=rec.hlc, origin=rec.origin, seq=rec.seq)


class KVService(pb_grpc.KVServicer):
    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.linger_s = replica.config.linger_ms / 1000

    async def _write(self, writes: list[pb.Write], context) -> list[pb.Version]:
        try:
            return await self.replica.write(writes)
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except CommitFailed as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

    async def Put(self, request, context):
        versions = await self._write(
            [pb.Write(op=pb.PUT, key=request.key, value=request.value)], context
        )
        return pb.WriteResponse(version=versions[0])

    async def Delete(self, request, context):
        versions = await self._write([pb.Write(op=pb.DELETE, key=request.key)], context)
        return pb.WriteResponse(version=versions[0])

    async def PutBatch(self, request, context):
        writes = [
            w if w.op else pb.Write(op=pb.PUT, key=w.key, value=w.value) for w in request.writes
        ]
        return pb.PutBatchResponse(versions=await self._write(writes, context))

    async def Get(self, request, context):
        if not request.key:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "key must not be empty")
        rec = self.replica.get(request.key)
        if rec is None:
            return pb.GetResponse(found=False)
        return pb.GetResponse(found=rec.op == pb.PUT, value=rec.value, version=version_of(rec))

    async def Scan(self, request, context):
        items = [
            pb.KeyValue(key=k, value=r.value, version=version_of(r))
            for k, r in self.replica.store.scan(request.prefix, request.limit)
        ]
        return pb.ScanResponse(items=items)

    async def Watch(self, request, context):
        async for change in quietly_cancelled(self._watch(request, context)):
            yield change

    async def _watch(self, request, context):
        watcher = Watcher(prefix=request.prefix)
        self.replica.watchers.append(watcher)
        try:
            while True:
                if watcher.overflowed:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "watch stream fell too far behind; reconnect",
                    )
                items = [await watcher.queue.get()]
                while not watcher.queue.empty() and len(items) < WATCH_BATCH:
                    items.append(watcher.queue.get_nowait())
                msg = pb.Changes()
                for item in items:
                    if item is None:  # the node is shutting down
                        break
                    picked, applied_ns = item
                    for entry, won in picked:
                        change = msg.changes.add(won=won, applied_unix_ns=applied_ns)
                        change.entry.CopyFrom(entry)
                if msg.changes:
                    yield msg
                if None in items:
                    return
                if self.linger_s:
                    await asyncio.sleep(self.linger_s)  # like replication: fewer messages
        finally:
            self.replica.watchers.remove(watcher)

    async def Status(self, request, context):
        return self.replica.status()


class ReplicationService(pb_grpc.ReplicationServicer):
    """Serves one subscriber per stream from the log at the subscriber's cursor.

    The log is the queue: nothing is buffered per subscriber beyond one batch,
    so a slow or absent peer costs disk, not memory.
    """

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        cfg = replica.config
        self.heartbeat_s = cfg.heartbeat_ms / 1000
        self.timeout_s = cfg.link_timeout_ms / 1000
        self.linger_s = cfg.linger_ms / 1000

    async def _hello(self, requests, context) -> pb.Hello:
        try:
            first = await asyncio.wait_for(requests.__anext__(), self.timeout_s * 4)
        except (StopAsyncIteration, asyncio.TimeoutError):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "a Replicate stream must start with Hello"
            )
        cfg = self.replica.config
        if first.WhichOneof("msg") != "hello":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a Replicate stream must start with Hello, got "
                f"{first.WhichOneof('msg') or 'an empty message'}",
            )
        hello = first.hello
        if hello.protocol != PROTOCOL:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"protocol {hello.protocol} not supported; this node speaks {PROTOCOL}",
            )
        if not NAME_RE.match(hello.node_id):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"bad node id {hello.node_id!r} in Hello"
            )
        if hello.node_id == self.replica.node_id:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"node {hello.node_id} connected to itself: check its peers",
            )
        if hello.cluster != cfg.cluster:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{hello.node_id} is in cluster {hello.cluster!r}, "
                f"{cfg.node_id} in {cfg.cluster!r}: check the peer addresses",
            )
        if hello.tenant != cfg.tenant:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{hello.node_id} belongs to tenant {hello.tenant!r}, "
                f"{cfg.node_id} to {cfg.tenant!r}",
            )
        return hello

    async def Replicate(self, request_iterator, context):
        async for msg in quietly_cancelled(self._replicate(request_iterator, context)):
            yield msg

    async def _replicate(self, request_iterator, context):
        if self.replica.stopping:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"{self.replica.node_id} is shutting down"
            )
        hello = await self._hello(request_iterator, context)
        peer = hello.node_id
        replica = self.replica
        stats = InboundStats(Cursor(peer, hello.vv, hello.exclude), last_ack=time.monotonic())
        replica.inbound[peer] = stats
        cursor = stats.cursor
        wake = asyncio.Event()  # set on every commit, on Want and when the reader ends
        log.info("%s: %s subscribed (its vv %s)", replica.node_id, peer, dict(hello.vv))

        async def read_requests() -> None:
            async for msg in request_iterator:
                kind = msg.WhichOneof("msg")
                if kind == "ack":
                    cursor.on_ack(msg.ack.vv)
                elif kind == "want":
                    cursor.set_exclude(msg.want.exclude)
                    wake.set()
                else:
                    raise BadRequest(f"unexpected {kind or 'empty'} message after Hello")
                stats.last_ack = time.monotonic()

        reader = asyncio.create_task(read_requests())
        reader.add_done_callback(lambda _: wake.set())
        replica.wakers.add(wake)
        try:
            yield pb.ServerMessage(welcome=pb.Welcome(node_id=replica.node_id, vv=replica.vv))
            loop = asyncio.get_running_loop()
            last_sent = time.monotonic()
            while not reader.done() and not replica.stopping:
                wake.clear()
                batch = self._next_batch(cursor)
                if batch:
                    cursor.on_sent(batch)
                    stats.entries_sent += len(batch)
                    replica.stats["entries_sent"] += len(batch)
                    yield pb.ServerMessage(batch=pb.Batch(entries=batch))
                    last_sent = time.monotonic()
                    if self.linger_s and len(batch) < replica.config.max_batch_entries:
                        await asyncio.sleep(self.linger_s)  # the next commits share a message
                    continue
                if time.monotonic() - stats.last_ack > self.timeout_s * 2:
                    log.warning(
                        "%s: %s silent for %.1fs; closing its stream",
                        replica.node_id,
                        peer,
                        time.monotonic() - stats.last_ack,
                    )
                    return
                timer = loop.call_later(self.heartbeat_s, wake.set)  # cheaper than wait_for
                await wake.wait()
                timer.cancel()
                if time.monotonic() - last_sent >= self.heartbeat_s:
                    yield pb.ServerMessage(heartbeat=pb.Heartbeat(vv=replica.vv))
                    last_sent = time.monotonic()
            if reader.done() and not reader.cancelled() and reader.exception():
                exc = reader.exception()
                code = (
                    grpc.StatusCode.INVALID_ARGUMENT
                    if isinstance(exc, BadRequest)
                    else grpc.StatusCode.UNAVAILABLE
                )
                await context.abort(code, str(exc))
        finally:
            replica.wakers.discard(wake)
            reader.cancel()
            if replica.inbound.get(peer) is stats:
                stats.streams = 0
            log.info("%s: %s unsubscribed", replica.node_id, peer)

    def _next_batch(self, cursor: Cursor) -> list[pb.Entry]:
        replica = self.replica
        out: list[pb.Entry] = []
        size = 0
        for origin, first, last in cursor.ranges(replica.vv, replica.config.max_batch_entries):
            for e in replica.read_log(origin, first, last):
                out.append(e)
                size += len(e.key) + len(e.value) + 32
                if size >= MAX_BATCH_BYTES:
                    return out
        return out
