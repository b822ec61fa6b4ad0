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


def _retrieve(fut: asyncio.Future) -> None:
    """Consume the outcome of an abandoned read so asyncio does not log it as lost."""
    if not fut.cancelled():
        fut.exception()


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
            first = await self._read(call)
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
            writer = asyncio.create_task(self._write_loop(call))
            catching_up = behind > 0
            started, applied = time.monotonic(), 0
            try:
                while True:
                    msg = await self._read(call, writer)
                    kind = msg.WhichOneof("msg")
                    if kind == "batch":
                        applied += replica.apply_remote(msg.batch.entries, self.peer)
                    elif kind == "heartbeat" and catching_up:
                        catching_up = False
                        took = time.monotonic() - started
                        log.info(
                            "%s: caught up with %s: %d entries in %.2fs",
                            replica.node_id,
                            self.peer,
                            applied,
                            took,
                        )
                    self._dirty.set()  # ack: progress for the server, liveness both ways
            finally:
                writer.cancel()
                call.cancel()

    async def _read(self, call, writer: asyncio.Task | None = None) -> pb.ServerMessage:
        read = asyncio.ensure_future(call.read())
        read.add_done_callback(_retrieve)  # whatever path we leave by, its error is seen
        waits = {read} | ({writer} if writer else set())
        done, _ = await asyncio.wait(
            waits, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if read not in done:
            read.cancel()
            if writer in done:
                writer.result()  # raises the writer's error
            raise LinkDead(f"no message from {self.peer} in {self.timeout_s:.1f}s")
        msg = read.result()
        if msg is grpc.aio.EOF:
            await call.wait_for_connection()
            code = await call.code()
            raise LinkDead(f"{self.peer} closed the stream ({code.name}: {await call.details()})")
        return msg

    async def _write_loop(self, call) -> None:
        """The only writer on the stream: coalesced acks and exclusion changes."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            exclude = self._exclude()
            if exclude != self._sent_exclude:
                self._sent_exclude = exclude
                await call.write(pb.SubscriberMessage(want=pb.Want(exclude=exclude)))
            await call.write(pb.SubscriberMessage(ack=pb.Ack(vv=self.replica.vv)))
