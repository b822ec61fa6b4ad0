"""The newest entries of each origin, kept in memory so streams at the head of the log
(the common case) cost no LevelDB read. It only accelerates: the log stays the queue."""

from __future__ import annotations

from node.pb import remesh_pb2 as pb

RECENT_PER_ORIGIN = 8192


class Recent:
    """The newest entries of each origin, in memory.

    Streams at the head of the log (the common case) are served from here instead
    of reading and parsing LevelDB for every batch and every subscriber. It only
    accelerates: anything older comes from the log, which stays the queue.
    """

    def __init__(self, cap: int = RECENT_PER_ORIGIN) -> None:
        self.cap = cap
        self.base: dict[str, int] = {}  # seq of items[origin][0]
        self.items: dict[str, list[pb.Entry]] = {}

    def add(self, entries: list[pb.Entry]) -> None:
        """Entries just committed: contiguous per origin, so index = seq - base."""
        items_of, base = self.items, self.base
        for e in entries:
            origin = e.origin
            items = items_of.get(origin)
            if not items:
                items = items_of[origin] = []
                base[origin] = e.seq
            items.append(e)
            if len(items) > 2 * self.cap:
                del items[: self.cap]
                base[origin] += self.cap

    def get(self, origin: str, first: int, last: int) -> list[pb.Entry] | None:
        items = self.items.get(origin)
        if not items or first < self.base[origin]:
            return None
        base = self.base[origin]
        return items[first - base : last - base + 1]
