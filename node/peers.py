"""Outbound peer links: one subscriber stream per configured peer, kept alive.

Each link opens ``Replicate`` on its peer, says Hello with this node's vv, applies
the batches it gets and acks its whole vv back. A link that hears nothing (no
batch, no heartbeat) for ``link_timeout_ms`` is declared dead even if TCP is
silent rather than reset (a blackholed partition), and reconnects with
exponential backoff plus jitter capped at ``backoff_max_ms``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import grpc

from node.core import exclusions
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.replica import Replica

log = logging.getLogger("node.peers")

MAX_MESSAGE = 256 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
BACKOFF_START_S = 0.05
ACK_INTERVAL_S = 0.02


class LinkDead(Exception):
    """The peer went silent or answered wrongly; reconnect."""


class PeerLink:
    def __init__(self, replica: Replica, peer: str, address: str) -> None:
        self.replica = replica
        self.peer = peer
        self.address = address
        cfg = replica.config
        self.timeout_s = cfg.link_timeout_ms / 1000
        self.backoff_max_s = cfg.backoff_max_ms / 1000
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sent_exclude: list[str] | None = None
        self._heard = 0.0  # when the peer last sent anything (monotonic)
        replica.on_links_changed(self._dirty.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"link-{self.peer}")

    async def stop(self) -> None:
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
            error = ""
            try:
                await self._session()
            except asyncio.CancelledError:
                self.replica.set_connected(self.peer, False)
                raise
            except grpc.aio.AioRpcError as exc:
                error = f"{exc.code().name}: {exc.details()}"
            except (LinkDead, asyncio.TimeoutError, OSError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a link must outlive any one stream
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s: link to %s failed unexpectedly: %s", self.replica.node_id, self.peer, error
                )
            was_up = self.replica.outbound[self.peer].connected
            self.replica.set_connected(self.peer, False, error)
            if was_up:
                log.info("%s: link to %s down: %s", self.replica.node_id, self.peer, error)
            else:
                log.debug("%s: connect to %s failed: %s", self.replica.node_id, self.peer, error)
            if time.monotonic() - started > 2 * self.backoff_max_s:
                backoff = BACKOFF_START_S  # it was up a while: retry fast
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.backoff_max_s)

    def _exclude(self) -> list[str]:
        return exclusions(self.peer, self.replica.direct_sources())

    async def _session(self) -> None:
        replica = self.replica
        cfg = replica.config
        async with grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            await asyncio.wait_for(channel.channel_ready(), self.timeout_s)
            call = pb_grpc.ReplicationStub(channel).Replicate()
            self._sent_exclude = self._exclude()
            await call.write(
                pb.SubscriberMessage(
                    hello=pb.Hello(
                        protocol=1,
                        cluster=cfg.cluster,
                        tenant=cfg.tenant,
                        node_id=replica.node_id,
                        vv=replica.vv,
                        exclude=self._sent_exclude,
                    )
                )
            )
            first = await asyncio.wait_for(self._next(call), self.timeout_s)
            if first.WhichOneof("msg") != "welcome":
                raise LinkDead(f"expected Welcome, got {first.WhichOneof('msg')}")
            if first.welcome.node_id != self.peer:
                raise LinkDead(
                    f"{self.address} is node {first.welcome.node_id!r}, "
                    f"not {self.peer!r}: check the peer address"
                )
            behind = sum(
                max(0, s - replica.vv.get(o, 0))
                for o, s in first.welcome.vv.items()
                if o != replica.node_id
            )
            log.info(
                "%s: link to %s up (%d entries to catch up)", replica.node_id, self.peer, behind
            )
            replica.set_connected(self.peer, True)
            self._heard = time.monotonic()
            tasks = [
                asyncio.create_task(self._read_loop(call, behind)),
                asyncio.create_task(self._write_loop(call)),
                asyncio.create_task(self._watchdog()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.cancelled():
                        raise LinkDead("stream cancelled")
                    task.result()  # raises why the link ended
            finally:
                for task in tasks:
                    task.cancel()
                call.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _next(self, call) -> pb.ServerMessage:
        msg = await call.read()
        if msg is grpc.aio.EOF:
            code = await call.code()
            raise LinkDead(f"{self.peer} closed the stream ({code.name}: {await call.details()})")
        return msg

    async def _read_loop(self, call, behind: int) -> None:
        """Apply batches as they come; no per-message timer (the watchdog covers silence)."""
        replica = self.replica
        catching_up = behind > 0
        started, applied = time.monotonic(), 0
        while True:
            msg = await self._next(call)
            self._heard = time.monotonic()
            kind = msg.WhichOneof("msg")
            if kind == "batch":
                applied += replica.apply_remote(msg.batch.entries, self.peer)
            elif kind == "heartbeat" and catching_up:
                catching_up = False
                log.info(
                    "%s: caught up with %s: %d entries in %.2fs",
                    replica.node_id,
                    self.peer,
                    applied,
                    time.monotonic() - started,
                )
            self._dirty.set()  # ack: progress for the server, liveness both ways

    async def _watchdog(self) -> None:
        """End the link when the peer has been silent (no batch, no heartbeat) too long:
        a blackholed connection says nothing at all, so silence is the only signal."""
        while True:
            await asyncio.sleep(self.timeout_s / 4)
            silent = time.monotonic() - self._heard
            if silent > self.timeout_s:
                raise LinkDead(f"no message from {self.peer} in {silent:.1f}s")

    async def _write_loop(self, call) -> None:
        """The only writer on the stream: exclusion changes and acks, at most one ack per
        ACK_INTERVAL_S, so a busy link does not answer every batch with a message."""
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                exclude = self._exclude()
                if exclude != self._sent_exclude:
                    self._sent_exclude = exclude
                    await call.write(pb.SubscriberMessage(want=pb.Want(exclude=exclude)))
                await call.write(pb.SubscriberMessage(ack=pb.Ack(vv=self.replica.vv)))
                await asyncio.sleep(ACK_INTERVAL_S)
        except asyncio.InvalidStateError:  # the server ended the stream first
            raise LinkDead(f"{self.peer} ended the stream") from None
