"""The background work that keeps a node's disk bounded: log truncation and tombstone
GC, a bounded chunk at a time with the event loop free between chunks, from what the
current members (``config.peers``) acknowledged on their streams to this node.
Decisions: ``node.protocol.compaction``; store operations: ``node.storage.trim``. Then, once
enough was deleted, a LevelDB compaction of the deleted ranges gives the disk back
(``reclaim``): in a worker thread, one range at a time, so serving goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from node.clock import HLC, pack
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol.compaction import (
    Members,
    age_cut,
    collectable,
    gc_floor,
    reclaim_due,
    truncation_points,
)
from node.storage.store import Record, Store
from node.storage.trim import collect_tombstones, live_records, reclaim_ranges, truncate_log

log = logging.getLogger("node.storage.compactor")

CHUNK = 2000  # log entries or tombstones per WriteBatch


class Compactor:
    """Truncation, GC and reclaim for one store, from the acks its members' streams carry
    (``members``); ``closed`` says the replica is closing (a round stops between chunks)."""

    def __init__(
        self,
        store: Store,
        config: NodeConfig,
        members: Callable[[], Members],
        clock: HLC,
        wall_ms: Callable[[], int],
        closed: Callable[[], bool],
    ) -> None:
        # each current member's latest acknowledgement to this node (None: none yet),
        # read fresh each time, so a SetPeers takes effect at once
        self.members = members
        self.store, self.config, self.clock = store, config, clock
        self.wall_ms, self.closed = wall_ms, closed
        self.truncated_entries = 0
        self.collected = 0
        self.garbage = 0  # records deleted since LevelDB last compacted their ranges
        self.dirty: set[str] = set()  # origins truncated since then
        self.gc_dirty = False  # tombstones collected since then
        self.reclaims = 0
        self._step: asyncio.Future | None = None  # the compaction running in a thread

    def floor(self) -> int:
        """This node's GC floor (0 while unknown)."""
        return self._floor(self.members())

    def _floor(self, members: Members) -> int:
        store = self.store
        return gc_floor(store.vv, store.tops, members, self.config.node_id, self.clock.last)

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        every = self.config.compact_every_ms / 1000
        while True:
            await asyncio.sleep(every)
            if self.store.torn:
                continue  # no write is tried until LevelDB is reopened (node/storage/dbguard.py)
            try:
                deleted = await self.truncate() + await self.collect()
                await self.reclaim(idle=not deleted)
            except Exception as exc:  # noqa: BLE001 - reported, retried next round
                log.error("%s: compaction round failed: %s", self.config.node_id, exc)

    async def truncate(self) -> int:
        store, cfg = self.store, self.config
        deleted = 0
        points = truncation_points(
            store.vv, self.members(), cfg.retain_entries, cfg.pin_timeout_ms / 1000
        )
        cutoff = self.wall_ms() - cfg.retain_ms
        for origin, t in points.items():
            done = store.truncated.get(origin, 0)
            point = t.point
            if point > done:
                point = age_cut(done + 1, point, partial(store._hlc_at, origin), cutoff)
            while not self.closed():
                n = truncate_log(store, origin, point, CHUNK)
                self.truncated_entries += n
                deleted += n
                if n:
                    self.dirty.add(origin)
                if n < CHUNK:
                    break
                await asyncio.sleep(0)  # serving and replication go on between chunks
        self.garbage += deleted
        return deleted

    async def collect(self) -> int:
        cfg = self.config
        members = self.members()
        floor = self._floor(members)
        if not floor:
            return 0
        wall = self.wall_ms()
        below = min(floor, pack(max(0, wall - cfg.tombstone_grace_ms), 0)) + 1

        def may_drop(rec: Record) -> bool:
            return collectable(
                rec.hlc, rec.origin, rec.seq, floor, members, wall, cfg.tombstone_grace_ms
            )

        total = 0
        while not self.closed():
            dropped, examined = collect_tombstones(self.store, below, may_drop, CHUNK)
            self.collected += dropped
            total += dropped
            if examined < CHUNK or not dropped:
                break
            await asyncio.sleep(0)
        self.garbage += 2 * total  # the state record and its index entry
        self.gc_dirty = self.gc_dirty or bool(total)
        return total

    async def reclaim(self, idle: bool) -> None:
        """Compact the ranges truncation and GC deleted from, when ``reclaim_due``."""
        store = self.store
        if not reclaim_due(self.garbage, live_records(store), idle):
            return
        ranges = reclaim_ranges(store, list(self.dirty), self.gc_dirty)
        self.garbage, self.dirty, self.gc_dirty = 0, set(), False
        for start, stop in ranges:
            if self.closed():
                return
            # shield: cancelling the loop must not let close() free LevelDB under a
            # compaction still running in its thread (``drain`` waits for it)
            self._step = asyncio.ensure_future(asyncio.to_thread(store.compact, start, stop))
            await asyncio.shield(self._step)
        self.reclaims += 1

    @property
    def idle(self) -> bool:
        """No compaction step is running in its thread."""
        return self._step is None or self._step.done()

    async def drain(self) -> None:
        """Wait for a compaction step still running in its thread (before LevelDB closes)."""
        if self._step is not None and not self._step.done():
            await asyncio.wait([self._step])

    # -------------------------------------------------------------------- status
    def pins(self) -> list[pb.Pin]:
        """Per origin whose truncation a member holds below what retention alone allows:
        who, at what, and since when (an operator removes a dead member)."""
        store, cfg = self.store, self.config
        members = self.members()
        out = []
        for origin, t in sorted(
            truncation_points(
                store.vv, members, cfg.retain_entries, cfg.pin_timeout_ms / 1000
            ).items()
        ):
            if not t.pinned_by or t.acked >= store.vv.get(origin, 0) - cfg.retain_entries:
                continue
            ack = members[t.pinned_by]
            out.append(
                pb.Pin(
                    origin=origin,
                    peer=t.pinned_by,
                    acked=t.acked,
                    since_s=ack.since_s if ack else -1.0,
                    open=bool(ack and ack.open),
                )
            )
        return out
