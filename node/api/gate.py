"""The write gate: a decommissioned node refuses new KV writes and drains those in flight.

It sits in ``KVService``'s write path, not in a gRPC interceptor: an aio interceptor
costs every call (reads and replication too) a coroutine hop, and rebuilt a method
handler for every write (docs/benchmarks.md, the per-write cost).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

log = logging.getLogger("node.api.admin")

REFUSED_KEY = "remesh-refused"  # trailing metadata: the node refused, it did not fail
DRAIN_TIMEOUT_S = 10.0


class WriteGate:
    """Counts KV writes in flight; once ``close``d, new ones are refused."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.closed = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def reason(self) -> str:
        return (
            f"{self.node_id} is decommissioned (leaving the cluster) and takes no more "
            "writes; write to another node"
        )

    async def refuse(self, context: Any) -> None:
        """End a call with UNAVAILABLE, marked as the node's refusal (not a failure)."""
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, self.reason, ((REFUSED_KEY, "decommissioned"),)
        )

    def close(self) -> None:
        if not self.closed:
            log.info("%s: decommissioned: refusing writes from now on", self.node_id)
        self.closed = True

    def enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def drained(self, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """Until no write is in flight (at most ``timeout``); True when none is."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True
