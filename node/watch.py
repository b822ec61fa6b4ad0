"""Watch fan-out: every commit, filtered by prefix, to each Watch stream's queue.

A watcher that falls ``WATCH_QUEUE`` commits behind is marked overflowed and its
stream ends with RESOURCE_EXHAUSTED, so a client that never reads costs a bounded
queue, never the node. One queue item per commit: the Watch handler builds the
messages, so a commit costs a watcher a tuple, not a protobuf copy per entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb

WATCH_QUEUE = 16_384  # commits a Watch stream may fall behind before it is ended

Item = tuple[list[tuple[pb.Entry, bool]], int] | None  # (entries, won), applied ns; None: end


@dataclass
class Watcher:
    prefix: bytes
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(WATCH_QUEUE))
    overflowed: bool = False

    def offer(self, item: Item) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True  # the Watch handler ends that stream


class Watchers:
    def __init__(self) -> None:
        self.active: list[Watcher] = []

    def add(self, prefix: bytes) -> Watcher:
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
