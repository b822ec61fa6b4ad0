"""Helpers for tests of nodes embedded in the test's own event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from node.app import Node
from node.config import NodeConfig


async def until(cond: Callable[[], Any], timeout: float, what: str) -> None:
    """Wait (without blocking the loop the nodes run on) until ``cond()`` is truthy;
    ``cond`` may be a coroutine function (an RPC to ask)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (await r if inspect.isawaitable(r := cond()) else r):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def config(tmp: Path, name: str, cluster: str, **kw: Any) -> NodeConfig:
    """A node with fast heartbeats, so links come and go quickly in tests."""
    return NodeConfig(
        node_id=name,
        data_dir=tmp / name,
        cluster=cluster,
        heartbeat_ms=100,
        link_timeout_ms=1000,
        **kw,
    )


async def linked_pair(a: NodeConfig, b: NodeConfig) -> tuple[Node, Node]:
    """Two embedded nodes started and peered with each other."""
    na, nb = Node(a), Node(b)
    await na.start()
    await nb.start()
    na.add_peer(b.node_id, nb.address)
    nb.add_peer(a.node_id, na.address)
    return na, nb


@asynccontextmanager
async def running_pair(a: NodeConfig, b: NodeConfig) -> AsyncIterator[tuple[Node, Node]]:
    """``linked_pair``, both nodes stopped however the test ends (a failed assertion
    included), so no node outlives its event loop."""
    na, nb = await linked_pair(a, b)
    try:
        yield na, nb
    finally:
        await na.stop()
        await nb.stop()
