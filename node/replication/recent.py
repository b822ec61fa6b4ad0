"""The newest entries of each origin, kept in memory so streams at the head of the log
(the common case) cost no LevelDB read. It only accelerates: the log stays the queue.

Bounded in bytes as well as in entries: 600 writes of 1 MiB must not pin 600 MiB. When
the cache is over its byte budget, the origin holding the most bytes drops its oldest
half; a stream that needs them reads the log instead.
"""

from __future__ import annotations

from node.pb import remesh_pb2 as pb

RECENT_PER_ORIGIN = 8192
RECENT_BYTES = 64 << 20
ENTRY_OVERHEAD = 128  # a parsed Entry's own memory beyond its key and value, roughly


def entry_bytes(e: pb.Entry) -> int:
    return len(e.key) + len(e.value) + len(e.origin) + ENTRY_OVERHEAD


class Recent:
    """The newest entries of each origin: at most ``2 * cap`` per origin and ``max_bytes``
    in all (an entry larger than the budget alone is not kept)."""

    def __init__(self, cap: int = RECENT_PER_ORIGIN, max_bytes: int = RECENT_BYTES) -> None:
        self.cap = cap
        self.max_bytes = max_bytes
        self.base: dict[str, int] = {}  # seq of items[origin][0]
        self.items: dict[str, list[pb.Entry]] = {}
        self.bytes: dict[str, int] = {}
        self.total = 0

    def add(self, entries: list[pb.Entry]) -> None:
        """Entries just committed: contiguous per origin, so index = seq - base."""
        items_of, base, sizes = self.items, self.base, self.bytes
        for e in entries:
            origin = e.origin
            items = items_of.get(origin)
            if not items:
                items = items_of[origin] = []
                base[origin] = e.seq
                sizes[origin] = 0
            items.append(e)
            size = entry_bytes(e)
            sizes[origin] += size
            self.total += size
            if len(items) > 2 * self.cap:
                self._drop(origin, self.cap)
        while self.total > self.max_bytes:
            biggest = max(sizes, key=sizes.__getitem__)
            self._drop(biggest, max(1, len(items_of[biggest]) // 2))

    def _drop(self, origin: str, n: int) -> None:
        """Forget the oldest ``n`` entries of ``origin``."""
        items = self.items[origin]
        freed = sum(entry_bytes(e) for e in items[:n])
        del items[:n]
        self.base[origin] += n
        self.bytes[origin] -= freed
        self.total -= freed
        if not items:
            del self.items[origin], self.base[origin], self.bytes[origin]

    def forget(self, origin: str) -> None:
        """Drop every entry of ``origin`` (its log was rewound: node/storage/rewind.py)."""
        if origin in self.items:
            self._drop(origin, len(self.items[origin]))

    def get(self, origin: str, first: int, last: int) -> list[pb.Entry] | None:
        items = self.items.get(origin)
        if not items or first < self.base[origin]:
            return None
        base = self.base[origin]
        return items[first - base : last - base + 1]
