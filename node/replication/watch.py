"""Watch fan-out: every commit, filtered by prefix, to each Watch stream's queue.

Memory held for a Watch is bounded in bytes, from the commit to the client taking it:
its queue, and the messages gRPC holds for it (the last one sent, which the transport
may still hold, and the one being sent: ``sending``/``sent``). A watcher past
``WATCH_QUEUE`` commits or ``WATCH_BYTES``, or the watcher holding the most when all of
them together pass ``WATCH_TOTAL_BYTES``, is overflowed: its queue is dropped at once and
``ended`` is set, so its stream ends with RESOURCE_EXHAUSTED even while a send to a
client that never reads is stuck. At most ``MAX_WATCHERS`` streams at once.
One queue item per commit: the Watch handler builds the messages, so a commit costs
a watcher a tuple, not a protobuf copy per entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.replication.recent import entry_bytes

WATCH_QUEUE = 16_384  # commits a Watch stream may fall behind before it is ended
WATCH_BYTES = 8 << 20  # and bytes it may hold (queued, and in gRPC's hands)
WATCH_TOTAL_BYTES = 64 << 20  # every Watch stream together
MAX_WATCHERS = 512

Item = tuple[list[tuple[pb.Entry, bool]], int] | None  # (entries, won), applied ns; None: end


@dataclass
class Watcher:
    prefix: bytes
    owner: Watchers | None = None  # keeps the node-wide total
    max_bytes: int = WATCH_BYTES
    queue: asyncio.Queue[tuple[Item, int]] = field(
        default_factory=lambda: asyncio.Queue(WATCH_QUEUE)
    )
    held: int = 0  # bytes queued or in gRPC's hands
    overflowed: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # set once overflowed
    interrupted: str = ""  # why the stream ends with ABORTED after what it has

    def offer(self, item: Item) -> None:
        if self.overflowed:
            return
        if item is None:
            self._put(None, 0)
            return
        size = sum(entry_bytes(e) for e, _ in item[0])
        if self.held and self.held + size > self.max_bytes:  # a lone big commit passes
            self.overflow()
            return
        if self.owner is not None and not self.owner.room(self, size):
            return  # this watcher held the most of all: overflowed
        self._put(item, size)

    def _put(self, item: Item, size: int) -> None:
        try:
            self.queue.put_nowait((item, size))
        except asyncio.QueueFull:
            self.overflow()  # the Watch handler ends that stream
            return
        self._hold(size)

    def _hold(self, size: int) -> None:
        self.held += size
        if self.owner is not None:
            self.owner.total += size

    def overflow(self) -> None:
        """Too far behind: drop what is queued now and end the stream."""
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.release()
        self.queue.put_nowait((None, 0))  # wakes a handler waiting in take: it ends
        self.ended.set()

    def release(self, size: int | None = None) -> None:
        """``size`` bytes left gRPC's hands (None: everything this watcher holds)."""
        size = self.held if size is None else min(size, self.held)
        self._hold(-size)

    async def take(self, most: int) -> tuple[list[Item], int]:
        """Wait for at least one item; return up to ``most`` of what is queued and their
        bytes, which stay held until ``release``d (once gRPC is done with them)."""
        items = [await self.queue.get()]
        while not self.queue.empty() and len(items) < most:
            items.append(self.queue.get_nowait())
        return [item for item, _ in items], sum(size for _, size in items)


class TooManyWatchers(Exception):
    """More Watch streams than ``MAX_WATCHERS``; maps to RESOURCE_EXHAUSTED."""


class Watchers:
    def __init__(self, max_total: int = WATCH_TOTAL_BYTES) -> None:
        self.active: list[Watcher] = []
        self.total = 0  # bytes every watcher holds
        self.max_total = max_total

    def add(self, prefix: bytes) -> Watcher:
        if len(self.active) >= MAX_WATCHERS:
            raise TooManyWatchers(
                f"{len(self.active)} Watch streams are open; the limit is {MAX_WATCHERS}"
            )
        w = Watcher(prefix, self)
        self.active.append(w)
        return w

    def remove(self, w: Watcher) -> None:
        self.active.remove(w)
        w.release()

    def room(self, w: Watcher, size: int) -> bool:
        """Make room for ``size`` more bytes of ``w`` under the node-wide bound: the
        watchers holding the most are overflowed first. False: ``w`` was one of them."""
        while self.total and self.total + size > self.max_total:
            worst = max(self.active, key=lambda x: x.held)
            worst.overflow()
            if worst is w:
                return False
        return True

    def publish(self, entries: Sequence[pb.Entry], won: Sequence[bool]) -> None:
        if not self.active:
            return
        now = time.time_ns()
        for w in self.active:
            picked = [
                (e, ok) for e, ok in zip(entries, won, strict=True) if e.key.startswith(w.prefix)
            ]
            if picked:
                w.offer((picked, now))

    def close_all(self) -> None:
        """The node is stopping: each stream ends after what it already has."""
        for w in self.active:
            w.offer(None)

    def interrupt(self, why: str) -> None:
        """State is about to change without an event per entry (a snapshot is merged):
        each stream ends after what it already has, with ABORTED and ``why``, so no
        client takes the events it got for every change there was."""
        for w in self.active:
            w.interrupted = why
            w.offer(None)
