"""Outbound peer links: one subscriber stream per configured peer, kept alive.

Each link pumps a ``SubscriberSession`` (node/protocol/subscriber.py) over a
``Replicate`` stream: it says Hello with this node's vv, applies the batches it
gets and acks its whole vv back. When the stream ends for any reason the link
records why and reconnects with exponential backoff plus jitter capped at
``backoff_max_ms``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, TypeAlias

import grpc

from node.api import challenge
from node.api.bearer import HEADER
from node.api.limits import channel_limits
from node.api.tls import TlsFiles, target_name
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.protocol import Held, PeerFailed, Refused, SubscriberSession, exclusions
from node.protocol.horizon import check_horizon
from node.replica import Replica
from node.replication.snapshots import Busy, Intake, wait_turn

Call: TypeAlias = grpc.aio.StreamStreamCall  # untyped: grpc ships no stubs

log = logging.getLogger("node.replication.outbound")

CHANNEL_OPTIONS = [  # and the message limits of node.api.limits
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
# The method path the generated ReplicationStub calls, with a deserializer of our own.
REPLICATE = f"/{pb.DESCRIPTOR.services_by_name['Replication'].full_name}/Replicate"
BACKOFF_START_S = 0.05
ACK_INTERVAL_S = 0.02
# grpcio's aio client reports a write that lost the race with the server ending the call
# as this INTERNAL status, replacing the status the server sent (grpc/grpc#36066).
LOST_STATUS = "Internal error from Core"


def lost_status(exc: grpc.aio.AioRpcError) -> bool:
    """Did a write replace the server's status with grpcio's INTERNAL placeholder?"""
    return exc.code() == grpc.StatusCode.INTERNAL and exc.details() == LOST_STATUS


async def say_hello(
    channel: grpc.aio.Channel,
    call: Call,
    hello: pb.SubscriberMessage,
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
    peer: str,
) -> None:
    """Write the stream's first message. A peer that ends the call before reading it
    (a wrong token, not a remesh node) may race the write, and grpcio then hides why the
    call ended; one unary call with the same metadata asks again, and its error (the
    real refusal) is raised in the stream's place."""
    try:
        await call.write(hello)
    except grpc.aio.AioRpcError as exc:
        if not lost_status(exc):
            raise
        try:
            await pb_grpc.KVStub(channel).Status(
                pb.StatusRequest(), metadata=metadata, timeout=timeout
            )
        except grpc.aio.AioRpcError as refusal:
            raise refusal from None
        raise PeerFailed(f"{peer} ended the stream before reading Hello") from None
    except asyncio.InvalidStateError:
        raise PeerFailed(f"{peer} ended the stream before reading Hello") from None


class PeerLink:
    def __init__(
        self,
        replica: Replica,
        peer: str,
        address: str,
        token: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.replica = replica
        self.peer = peer
        self.address = address
        self._token = token.encode() if token else None  # proved, never sent
        self._tls = tls
        cfg = replica.config
        self.timeout_s = cfg.link_timeout_ms / 1000
        self.backoff_max_s = cfg.backoff_max_ms / 1000
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.session = SubscriberSession(replica.identity, peer, address, self.timeout_s)
        self._last_refusal = ""
        self._rewinds = 0  # Integrity.rewinds when this stream said Hello
        replica.links.on_changed(self._dirty.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"link-{self.peer}")

    async def stop(self) -> None:
        self.replica.links.off_changed(self._dirty.set)
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def run(self) -> None:
        backoff = BACKOFF_START_S
        while True:
            started = time.monotonic()
            error, busy = "", False
            try:
                await self._session()
            except asyncio.CancelledError:
                self.replica.links.set_connected(self.peer, False)
                raise
            except grpc.aio.AioRpcError as exc:
                error = f"{exc.code().name}: {exc.details()}"
                if "larger than max" in (exc.details() or ""):  # past node.api.limits: refused
                    self.replica.metrics.reject("too_large")
                if lost_status(exc):
                    error = f"{self.peer} ended the stream; grpcio lost why: see its log"
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    # not the peer's token: a person must fix it; loud, once per reason
                    if error != self._last_refusal:
                        log.error("%s: link to %s: %s", self.replica.node_id, self.peer, error)
                    self._last_refusal = error
            except Refused as exc:  # the peer sent what we refuse: loud, once per reason
                error = f"refused: {exc}"
                if error != self._last_refusal:
                    log.error("%s: link to %s: %s", self.replica.node_id, self.peer, error)
                self._last_refusal = error
            except Held as exc:  # entries dated too far ahead: wait, once per reason
                error = str(exc)
                if error != self._last_refusal:
                    log.warning("%s: link to %s: %s", self.replica.node_id, self.peer, error)
                self._last_refusal = error
            except Busy as exc:  # refused its snapshot: another is being merged
                error, busy = str(exc), True
            except (PeerFailed, asyncio.TimeoutError, OSError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a link must outlive any one stream
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s: link to %s failed unexpectedly: %s", self.replica.node_id, self.peer, error
                )
            was_up = self.replica.links.outbound[self.peer].connected
            self.replica.links.set_connected(self.peer, False, error)
            if was_up:
                log.info("%s: link to %s down: %s", self.replica.node_id, self.peer, error)
            else:
                log.debug("%s: connect to %s failed: %s", self.replica.node_id, self.peer, error)
            if busy:  # nothing failed: ask again once the other snapshot ended
                await wait_turn(self.replica, self.peer)
                backoff = BACKOFF_START_S
            if time.monotonic() - started > 2 * self.backoff_max_s:
                backoff = BACKOFF_START_S  # it was up a while: retry fast
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.backoff_max_s)

    def _exclude(self) -> list[str]:
        peer_origin = self.replica.links.outbound[self.peer].replica_id
        return exclusions(peer_origin, self.replica.links.direct_sources())

    async def _session(self) -> None:
        replica = self.replica
        session = self.session = SubscriberSession(
            replica.identity, self.peer, self.address, self.timeout_s
        )
        async with self._channel() as channel:
            await asyncio.wait_for(channel.channel_ready(), self.timeout_s)
            metadata = await self._prove(channel)
            call = channel.stream_stream(
                REPLICATE,
                request_serializer=pb.SubscriberMessage.SerializeToString,
                response_deserializer=self._parse,
            )(metadata=metadata)
            hello = session.hello(replica.vv, self._exclude(), replica.integrity.heads())
            await say_hello(channel, call, hello, metadata, self.timeout_s, self.peer)
            first = await asyncio.wait_for(self._next(call), self.timeout_s)
            welcome = session.on_welcome(first, replica.vv, time.monotonic(), replica.wall_ms())
            log.info(
                "%s: link to %s (%s) up (%d entries to catch up)",
                replica.node_id,
                self.peer,
                welcome.replica_id,
                session.behind,
            )
            cfg = replica.config
            check_horizon(
                welcome.gc_horizon,
                replica.wall_ms(),
                cfg.max_clock_skew_ms,
                self.peer,
                cfg.tombstone_grace_ms,
            )
            replica.on_welcome(self.peer, welcome.replica_id, dict(welcome.vv), welcome.gc_horizon)
            self._rewinds = replica.integrity.rewinds
            replica.integrity.check(
                *(self.peer, welcome.replica_id, welcome.vv, welcome.chains, "a Welcome"),
                greeting=True,
            )
            replica.links.announce(self.peer, welcome.vouched)  # what it vouches for
            replica.links.set_connected(self.peer, True)
            tasks = [
                asyncio.create_task(self._read_loop(call)),
                asyncio.create_task(self._write_loop(call)),
                asyncio.create_task(self._watchdog()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.cancelled():
                        raise PeerFailed("stream cancelled")
                    task.result()  # raises why the link ended
            finally:
                for task in tasks:
                    task.cancel()
                call.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _parse(self, raw: bytes) -> pb.ServerMessage:
        """The stub's deserializer, counting the bytes as they arrive (free: no re-encoding)."""
        self.replica.metrics.received_bytes.add(self.peer, len(raw))
        return pb.ServerMessage.FromString(raw)

    async def _prove(self, channel: grpc.aio.Channel) -> tuple[tuple[str, str], ...]:
        """The call metadata for this connection: a proof of the token, once the far end
        proved it is the peer (``node.api.challenge``); none when this node has no token."""
        if self._token is None:
            return ()
        try:
            proof = await challenge.prove_aio(
                channel, self._token, self.replica.config.cluster, self.peer, self.timeout_s
            )
        except challenge.ChallengeFailed as exc:
            raise Refused(
                f"what answers at {self.address} is not {self.peer}: {exc}; "
                f"nothing secret was sent to it"
            ) from None
        return ((HEADER, proof),)

    def _channel(self) -> grpc.aio.Channel:
        """Plaintext, or TLS with this node's certificate, checking the far end's names
        the peer (the address may be a fault proxy's)."""
        options: list[tuple[str, Any]] = [*CHANNEL_OPTIONS, *channel_limits(self.replica.config)]
        if self._tls is None:
            return grpc.aio.insecure_channel(self.address, options=options)
        options.append(target_name(self.peer))
        creds = self._tls.channel_credentials()
        return grpc.aio.secure_channel(self.address, creds, options=options)

    async def _next(self, call: Call) -> pb.ServerMessage:
        msg = await call.read()
        if msg is grpc.aio.EOF:
            code = await call.code()
            raise PeerFailed(f"{self.peer} closed the stream ({code.name}: {await call.details()})")
        return msg

    async def _read_loop(self, call: Call) -> None:
        """Apply batches as they come; no per-message timer (the watchdog covers silence)."""
        intake = Intake(self.replica, self.peer)
        try:
            await self._read(call, intake, time.monotonic())
        finally:
            intake.close()  # a snapshot cut off with the stream lets another peer send one

    async def _read(self, call: Call, intake: Intake, started: float) -> None:
        replica, session = self.replica, self.session
        stats = replica.links.outbound[self.peer]
        applied = 0
        while True:
            msg = await self._next(call)
            got = session.on_message(msg, time.monotonic(), replica.wall_ms())
            stats.clock_offset_ms = session.clock_offset_ms
            if got.snapshot is not None:
                intake.on_message(got.snapshot)
            elif got.entries:
                applied += replica.apply_remote(got.entries, self.peer)
            if got.heartbeat is not None:
                beat = got.heartbeat
                replica.links.announce(self.peer, beat.vouched)  # what a snapshot may claim
                replica.vouched.heard(session.peer_origin, beat.vv, replica.vv)
                replica.integrity.check(
                    self.peer, session.peer_origin, beat.vv, beat.chains, "a Heartbeat"
                )
            if got.caught_up:
                log.info(
                    "%s: caught up with %s: %d entries in %.2fs",
                    replica.node_id,
                    self.peer,
                    applied,
                    time.monotonic() - started,
                )
            self._dirty.set()  # ack: progress for the server, liveness both ways

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.timeout_s / 4)
            self.session.check_alive(time.monotonic())

    async def _write_loop(self, call: Call) -> None:
        """The only writer on the stream: exclusion changes and acks, at most one ack per
        ACK_INTERVAL_S, so a busy link does not answer every batch with a message."""
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                if self.session.me.origin != self.replica.origin:
                    raise PeerFailed(f"this node is now {self.replica.origin}; saying Hello again")
                if self._rewinds != self.replica.integrity.rewinds:
                    raise PeerFailed("a forked range was dropped; saying Hello again")
                replica = self.replica
                for msg in self.session.outgoing(
                    replica.vv,
                    self._exclude(),
                    replica.watermarks.saved,
                    replica.clock.last,
                    list(replica.config.peers),
                ):
                    await call.write(msg)
                await asyncio.sleep(ACK_INTERVAL_S)
        except asyncio.InvalidStateError:  # the server ended the stream first
            raise PeerFailed(f"{self.peer} ended the stream") from None
