"""Watermark checkpoints: sync LevelDB, then record the vv, mostly off the event loop.

A checkpoint costs two fsyncs (LevelDB's log, then the watermark file). Taken on the
event loop every 500 ms they stalled every stream and every client call behind them
(docs/benchmarks.md), so the periodic ones run in a worker thread (plyvel releases the
GIL) while the loop keeps serving. The order still holds: the vv is read first, and every
entry it names was written before the barrier, so a watermark never runs ahead of the disk.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Protocol

from node.config import NodeConfig
from node.observability.metrics import NodeMetrics
from node.storage.health import StorageHealth
from node.storage.store import Store
from node.storage.watermarks import Watermarks

log = logging.getLogger("node.storage.checkpoints")


class Quiet(Protocol):
    """Another user of LevelDB in a worker thread (the compactor)."""

    @property
    def idle(self) -> bool: ...

    async def drain(self) -> None: ...


class Checkpoints:
    """When the replica's watermark is written, and the thread that writes it."""

    def __init__(
        self,
        store: Store,
        watermarks: Watermarks,
        health: StorageHealth,
        metrics: NodeMetrics,
        config: NodeConfig,
        others: Quiet,
    ) -> None:
        self.store, self.watermarks, self.health = store, watermarks, health
        self.metrics, self.config, self.others = metrics, config, others
        self.since = 0  # entries applied since the last checkpoint
        self._io: asyncio.Future[None] | None = None  # a checkpoint's fsyncs, in a thread
        self._soon: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    def _current(self) -> bool:
        if self.since == 0 and self.watermarks.saved == self.store.vv:
            self.metrics.watermark_current_at = time.monotonic()
            return True
        return False

    def _persist(self, vv: dict[str, int]) -> None:
        with self._lock:
            self.store.sync_barrier()
            self.watermarks.save(vv)

    def now(self) -> None:
        """A checkpoint on the loop (shutdown, snapshots): blocks it for two fsyncs."""
        if self._current():
            return
        self._persist(dict(self.store.vv))
        self.since = 0
        self.metrics.watermark_current_at = time.monotonic()

    async def off_loop(self) -> None:
        """A checkpoint whose fsyncs run in a worker thread."""
        if self._current():
            return
        vv, since = dict(self.store.vv), self.since
        self.since = 0  # what commits during the fsyncs counts toward the next one
        self._io = asyncio.get_running_loop().run_in_executor(None, self._persist, vv)
        try:
            await asyncio.shield(self._io)  # settle() waits for it: LevelDB stays open
        except Exception:
            self.since += since
            raise
        self.metrics.watermark_current_at = time.monotonic()

    def count(self, entries: int) -> None:
        """Entries applied; past ``watermark_every_entries`` a checkpoint starts now."""
        self.since += entries
        busy = (self._soon and not self._soon.done()) or (self._io and not self._io.done())
        if self.since >= self.config.watermark_every_entries and not busy:
            self._soon = asyncio.ensure_future(self.off_loop())

    async def settle(self) -> None:
        """Wait for a checkpoint thread still using LevelDB (before it is closed)."""
        if self._soon is not None and not self._soon.done():
            await asyncio.wait([self._soon])
        if self._io is not None and not self._io.done():
            await asyncio.wait([self._io])

    @property
    def idle(self) -> bool:
        """No checkpoint thread is using LevelDB."""
        busy = (self._soon and not self._soon.done()) or (self._io and not self._io.done())
        return not busy

    async def loop(self) -> None:
        """Checkpoint now and then; also the probe that notices storage failing or healing.

        After a failed LevelDB write (node/storage/dbguard.py) the first step of healing is to
        reopen LevelDB, once no thread uses it; then a write must succeed to call it
        healed."""
        store, health = self.store, self.health
        while True:
            await asyncio.sleep(self.config.watermark_every_ms / 1000)
            try:
                store.check_dir()
                if store.torn:
                    await self._reopen()
                if health.error:
                    store.sync_barrier()
                await self.off_loop()
            except Exception as exc:  # noqa: BLE001 - reported, retried next round
                health.failed(f"checkpoint: {exc}")
            else:
                health.recovered()

    async def _reopen(self) -> None:
        while not (self.others.idle and self.idle):
            await self.others.drain()
            await self.settle()
        torn = self.store.torn
        self.store.reopen()  # no await since the check: no thread started in between
        log.warning("%s: reopened LevelDB after a failed write (%s)", self.config.node_id, torn)
