"""Watch fan-out: every commit, filtered by prefix, to each Watch stream's queue.

A watcher that falls ``WATCH_QUEUE`` commits or ``WATCH_BYTES`` behind is marked
overflowed and its stream ends with RESOURCE_EXHAUSTED, so a client that never reads
costs a bounded queue, never the node; at most ``MAX_WATCHERS`` streams at once.
One queue item per commit: the Watch handler builds the messages, so a commit costs
a watcher a tuple, not a protobuf copy per entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.recent import entry_bytes

WATCH_QUEUE = 16_384  # commits a Watch stream may fall behind before it is ended
WATCH_BYTES = 8 << 20  # and bytes of entries (shared with the log cache, so a bound)
MAX_WATCHERS = 512

Item = tuple[list[tuple[pb.Entry, bool]], int] | None  # (entries, won), applied ns; None: end


@dataclass
class Watcher:
    prefix: bytes
    queue: asyncio.Queue[tuple[Item, int]] = field(
        default_factory=lambda: asyncio.Queue(WATCH_QUEUE)
    )
    queued_bytes: int = 0
    overflowed: bool = False
    interrupted: str = ""  # why the stream ends with ABORTED after what it has

    def offer(self, item: Item) -> None:
        if self.overflowed:
            return
        size = sum(entry_bytes(e) for e, _ in item[0]) if item is not None else 0
        if item is not None and self.queued_bytes + size > WATCH_BYTES:
            self.overflowed = True
            return
        try:
            self.queue.put_nowait((item, size))
        except asyncio.QueueFull:
            self.overflowed = True  # the Watch handler ends that stream
            return
        self.queued_bytes += size

    async def take(self, most: int) -> list[Item]:
        """Wait for at least one item; return up to ``most`` of what is queued."""
        items = [await self.queue.get()]
        while not self.queue.empty() and len(items) < most:
            items.append(self.queue.get_nowait())
        self.queued_bytes -= sum(size for _, size in items)
        return [item for item, _ in items]


class TooManyWatchers(Exception):
    """More Watch streams than ``MAX_WATCHERS``; maps to RESOURCE_EXHAUSTED."""


class Watchers:
    def __init__(self) -> None:
        self.active: list[Watcher] = []

    def add(self, prefix: bytes) -> Watcher:
        if len(self.active) >= MAX_WATCHERS:
            raise TooManyWatchers(
                f"{len(self.active)} Watch streams are open; the limit is {MAX_WATCHERS}"
            )
        w = Watcher(prefix)
        self.active.append(w)
        return w

    def remove(self, w: Watcher) -> None:
        self.active.remove(w)

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
