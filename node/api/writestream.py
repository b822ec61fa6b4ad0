"""The ``Writes`` stream: one write per message, each answered on its own, in order.

Why it exists: in Python a unary ``Put`` costs gRPC's per-call machinery, about three
times what one stream message costs on each side (docs/performance.md), so a client
sending single writes paid more for the call than for the write. On a long-lived
stream each write costs one message each way, and the writes a client keeps in flight
(on one stream or several) join the same group commit, as concurrent ``Put`` calls do.

Each write is its own request: it is acknowledged only once committed, exactly as
``Put`` would acknowledge it, and a refused write (bad input, a failed commit, stale
data) is answered with the error ``Put`` would have ended with and stores nothing; the
stream goes on. A node that is decommissioned answers every write it took and then
ends the stream with UNAVAILABLE, naming itself, as ``Put`` does.

Bounded: at most ``WINDOW`` writes and ``WINDOW_BYTES`` of keys and values read and
not yet answered per stream (plus the one message in hand), and ``NODE_WINDOW_BYTES``
over every stream of the node; past that a stream stops reading and gRPC's flow
control holds its client back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from node.api.gate import WriteGate
from node.api.statuses import REFUSALS, status_of
from node.pb import remesh_pb2 as pb
from node.replica import Replica

WINDOW = 256  # writes read and not yet answered, per stream
WINDOW_BYTES = 4 << 20  # their keys and values
NODE_WINDOW = 16_384  # writes in flight over every Writes stream of a node
NODE_WINDOW_BYTES = 64 << 20
_END = object()  # the client finished writing (or went away)
_CLOSED = object()  # the node was decommissioned while the stream was open


class Window:
    """Room for writes in flight on one stream, in count and bytes. A single write
    larger than the byte budget is let through alone (the write rules bound it)."""

    def __init__(self, count: int = WINDOW, size: int = WINDOW_BYTES) -> None:
        self.max_count, self.max_bytes = count, size
        self.count = self.bytes = 0
        self._room = asyncio.Event()

    def full(self, size: int) -> bool:
        return self.count >= self.max_count or (
            self.count > 0 and self.bytes + size > self.max_bytes
        )

    async def take(self, size: int) -> None:
        while self.full(size):
            self._room.clear()
            await self._room.wait()
        self.count += 1
        self.bytes += size

    def give(self, size: int, count: int = 1) -> None:
        self.count -= count
        self.bytes -= size
        self._room.set()


def result_of(task: asyncio.Task[list[pb.Version]]) -> pb.WriteResult:
    """A finished write's answer: its version, or the status ``Put`` would have sent."""
    exc = task.exception()
    if exc is None:
        return pb.WriteResult(version=task.result()[0])
    if isinstance(exc, REFUSALS):
        code, message = status_of(exc)
        return pb.WriteResult(code=code.value[0], error=message)
    raise exc  # the replica closed under us: the stream ends with it


async def serve_writes(
    replica: Replica,
    gate: WriteGate,
    requests: AsyncIterator[pb.Write],
    context: Any,
    node_window: Window,
) -> AsyncIterator[pb.WriteResult]:
    """Read writes and start each at once (so those in flight share a group commit);
    answer them in the order they came. ``node_window`` is shared by the node's streams."""
    if gate.closed:
        await gate.refuse(context)
    window = Window()
    owed = [0, 0]  # writes and bytes this stream holds of the node's window
    answers: asyncio.Queue[Any] = asyncio.Queue()  # bounded by the window

    def left(task: asyncio.Task[list[pb.Version]]) -> None:
        gate.leave()
        if not task.cancelled():
            task.exception()  # retrieved here too: the client may be gone

    def start(write: pb.Write) -> asyncio.Task[list[pb.Version]]:
        if not write.op:
            write.op = pb.PUT
        gate.enter()
        task = asyncio.ensure_future(replica.write((write,)))
        task.add_done_callback(left)
        return task

    async def read() -> None:
        try:
            async for write in requests:
                size = len(write.key) + len(write.value)
                await window.take(size)
                await node_window.take(size)
                owed[0] += 1  # no await since the take: a cancel cannot fall between
                owed[1] += size
                if gate.closed:
                    answers.put_nowait(_CLOSED)
                    return
                answers.put_nowait((size, start(write)))
        finally:
            answers.put_nowait(_END)

    reader = asyncio.ensure_future(read())
    reader.add_done_callback(lambda t: t.cancelled() or t.exception())  # a client gone
    try:
        while True:
            item = await answers.get()
            if item is _END:  # the client finished, or went away: nobody to answer
                return
            if item is _CLOSED:
                await gate.refuse(context)
            size, task = item
            await asyncio.wait((task,))
            window.give(size)
            node_window.give(size)
            owed[0] -= 1
            owed[1] -= size
            yield result_of(task)
    finally:
        reader.cancel()
        node_window.give(owed[1], owed[0])  # what a stream that ended early still held
