"""gRPC servicers: the client-facing KV service and the server side of replication.

Both are thin pumps: they translate messages to and from the replica and the
protocol sessions; ``node.api.statuses.status_of`` is the one place where a refusal becomes a
gRPC status code with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, TypeAlias

import grpc

from node.api.auth import certified_name
from node.api.gate import WriteGate
from node.api.limits import BATCH_BYTES
from node.api.sending import Stalled, pump, trim_soon
from node.api.statuses import REFUSALS, abort
from node.api.watchstream import serve_watch
from node.api.writestream import NODE_WINDOW, NODE_WINDOW_BYTES, Window, serve_writes
from node.observability.status import status_of
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.protocol import PeerFailed, ProtocolError, Refused, ServerLimits, ServerSession
from node.protocol.ops import LIVE
from node.replica import Replica
from node.replication import snapshots
from node.storage.store import Record

log = logging.getLogger("node.api.service")

SCAN_PAGE_BYTES = 1 << 20  # a Scan page stays well under gRPC's 4 MiB client default


Context: TypeAlias = grpc.aio.ServicerContext  # untyped: grpc ships no stubs


async def quietly_cancelled(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
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
    def __init__(self, replica: Replica, gate: WriteGate) -> None:
        self.replica = replica
        self.gate = gate
        self.linger_s = replica.config.linger_ms / 1000
        self.writes_window = Window(NODE_WINDOW, NODE_WINDOW_BYTES)  # every Writes stream

    async def _write(self, writes: list[pb.Write], context: Context) -> list[pb.Version]:
        gate = self.gate
        if gate.closed:
            await gate.refuse(context)
        gate.enter()
        try:
            return await self.replica.write(writes)
        except REFUSALS as exc:
            await abort(context, exc)
        finally:
            gate.leave()

    async def Put(self, request: pb.PutRequest, context: Context) -> pb.WriteResponse:
        versions = await self._write(
            [pb.Write(op=pb.PUT, key=request.key, value=request.value)], context
        )
        return pb.WriteResponse(version=versions[0])

    async def Writes(
        self, request_iterator: AsyncIterator[pb.Write], context: Context
    ) -> AsyncIterator[pb.WriteResult]:
        stream = serve_writes(
            self.replica, self.gate, request_iterator, context, self.writes_window
        )
        async for result in quietly_cancelled(stream):
            yield result

    async def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.WriteResponse:
        rec = self.replica.get(request.key) if request.key else None
        versions = await self._write([pb.Write(op=pb.DELETE, key=request.key)], context)
        return pb.WriteResponse(version=versions[0], absent=rec is None or rec.op != pb.PUT)

    async def PutBatch(self, request: pb.PutBatchRequest, context: Context) -> pb.PutBatchResponse:
        writes = [
            w if w.op else pb.Write(op=pb.PUT, key=w.key, value=w.value) for w in request.writes
        ]
        return pb.PutBatchResponse(versions=await self._write(writes, context))

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        if not request.key:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "key must not be empty")
        rec = self.replica.get(request.key)
        if rec is None:
            return pb.GetResponse(found=False)
        return pb.GetResponse(found=rec.op in LIVE, value=rec.value, version=version_of(rec))

    async def Scan(self, request: pb.ScanRequest, context: Context) -> pb.ScanResponse:
        page, next_key = self.replica.store.scan(
            request.prefix, request.limit, request.start, SCAN_PAGE_BYTES
        )
        items = [pb.KeyValue(key=k, value=r.value, version=version_of(r)) for k, r in page]
        return pb.ScanResponse(items=items, next_key=next_key)

    async def Watch(self, request: pb.WatchRequest, context: Context) -> None:
        await serve_watch(self.replica, request.prefix, context, self.linger_s)

    async def Status(self, request: pb.StatusRequest, context: Context) -> pb.StatusResponse:
        return status_of(self.replica)


class ReplicationService(pb_grpc.ReplicationServicer):
    """Pumps one ``ServerSession`` per Replicate stream between gRPC and the replica."""

    def __init__(self, replica: Replica, certified: bool = False) -> None:
        self.replica = replica
        self.certified = certified  # mutual TLS: a subscriber is the node its cert names
        cfg = replica.config
        self.limits = ServerLimits(
            max_batch_entries=cfg.max_batch_entries,
            max_batch_bytes=BATCH_BYTES,
            heartbeat_s=cfg.heartbeat_ms / 1000,
            timeout_s=cfg.link_timeout_ms / 1000,
        )
        self.linger_s = cfg.linger_ms / 1000

    async def Replicate(
        self, request_iterator: AsyncIterator[pb.SubscriberMessage], context: Context
    ) -> None:
        """A subscriber that takes nothing for twice the link timeout is ended (what the
        node holds for it is one or two batches: ``node.api.sending``)."""
        stall = 2 * self.limits.timeout_s
        ended = asyncio.Event()  # a newer stream of the same node replaced this one

        def why() -> str:
            if ended.is_set():
                return "a newer stream of the same node replaced this one"
            self.replica.metrics.reject("fell_behind")
            return f"the subscriber took nothing for {stall:g}s; ending its stream"

        try:
            stream = self._replicate(request_iterator, context, ended)
            await pump(stream, context, stall, why, ended)
        finally:
            trim_soon()

    async def _check_certificate(self, context: Context, peer: str) -> None:
        """A node may subscribe only as itself: the name in its Hello must be the one in
        the certificate it connected with (another node's, or the tool's, is refused)."""
        name = certified_name(context)
        if name != peer:
            self.replica.metrics.reject("auth")
            log.warning(
                "%s: refused a Replicate stream: Hello says %s, certificate says %r",
                self.replica.node_id,
                peer,
                name,
            )
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the caller's certificate names {name!r} but its Hello says {peer!r}: "
                "a node may subscribe only as the node its certificate names",
            )

    async def _replicate(
        self, requests: AsyncIterator[pb.SubscriberMessage], context: Context, ended: asyncio.Event
    ) -> AsyncGenerator[pb.ServerMessage, None]:
        replica = self.replica
        if replica.stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{replica.node_id} is shutting down")
        session = ServerSession(replica.identity, self.limits)
        try:
            first = await asyncio.wait_for(requests.__anext__(), self.limits.timeout_s * 4)
        except (StopAsyncIteration, asyncio.TimeoutError):
            first = None
        try:
            welcome = session.on_hello(
                first, replica.vv, time.monotonic(), replica.wall_ms(), replica.store.horizon,
                replica.integrity.heads(), replica.vouched.announce(replica.vv, replica.origin),
            )  # fmt: skip
            hello = session.hello
            replica.integrity.check(
                hello.node_id, hello.replica_id, hello.vv, hello.chains, "a Hello", greeting=True
            )
        except ProtocolError as exc:
            replica.metrics.reject("bad_hello")
            await abort(context, exc)
        if self.certified:
            await self._check_certificate(context, session.peer)
        try:  # the certificate proved the name (checked above), else the Hello says it
            inbound = replica.links.subscribed(session, session.peer, proven=self.certified)
        except Refused as exc:
            replica.metrics.reject("too_many_streams")
            await abort(context, exc)
        inbound.ended = ended
        peer = session.peer
        wake = asyncio.Event()  # set on every commit, on Want and when the reader ends
        log.info("%s: %s subscribed (its vv %s)", replica.node_id, peer, dict(session.cursor.pos))

        async def read_requests() -> None:
            async for msg in requests:
                try:
                    changed = session.on_message(msg, time.monotonic())
                except Refused:
                    replica.metrics.reject("bad_message")
                    raise
                if changed:
                    wake.set()

        reader = asyncio.create_task(read_requests())
        reader.add_done_callback(lambda _: wake.set())
        replaced = asyncio.ensure_future(ended.wait())
        replaced.add_done_callback(lambda _: wake.set())
        replica.wakers.add(wake)
        try:
            yield welcome
            loop = asyncio.get_running_loop()
            while not reader.done() and not replica.stopping and not ended.is_set():
                wake.clear()
                if replica.incarnation.withholding:  # over older data, not yet checked (or stale)
                    batch = None
                elif why := snapshots.reason(replica, session):
                    async with aclosing(snapshots.serve(replica, session, why)) as msgs:
                        async for msg in msgs:  # closed with the stream: says it was cut off
                            yield msg
                    continue
                else:
                    have = replica.integrity.relay_vv()  # a forked origin: what it can vouch for
                    batch = session.next_batch(have, replica.read_log, time.monotonic())
                if batch is not None:
                    replica.stats["entries_sent"] += len(batch.batch.entries)
                    replica.metrics.sent_entries.add(peer, len(batch.batch.entries))
                    replica.metrics.sent_bytes.add(peer, session.batch_bytes)
                    yield batch
                    if session.beat_due(now := time.monotonic()):  # a stream never idle
                        yield session.busy_beat(
                            now, replica.vv, replica.integrity.chain_at, replica.wall_ms(),
                            replica.vouched.announce(replica.vv, replica.origin),
                        )  # fmt: skip
                    if self.linger_s and not session.full(batch):
                        await asyncio.sleep(self.linger_s)  # the next commits share a message
                    continue
                try:
                    beat = session.tick(
                        time.monotonic(), replica.vv, replica.wall_ms(), replica.integrity.heads(),
                        replica.vouched.announce(replica.vv, replica.origin),
                    )  # fmt: skip
                except PeerFailed as exc:
                    log.warning("%s: %s", replica.node_id, exc)
                    return
                if beat is not None:
                    yield beat
                timer = loop.call_later(self.limits.heartbeat_s, wake.set)  # cheaper than wait_for
                await wake.wait()
                timer.cancel()
            if ended.is_set():
                raise Stalled  # replaced: ends with why
            failure = reader.exception() if reader.done() and not reader.cancelled() else None
            if failure is not None:
                await abort(context, failure)
        finally:
            replica.wakers.discard(wake)
            reader.cancel()
            replaced.cancel()
            replica.links.unsubscribed(inbound)
            log.info("%s: %s unsubscribed", replica.node_id, peer)
