"""A node embedded in a background event loop, driven from plain synchronous tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cluster.client import open_channel
from cluster.secrets import Credentials
from node.app import Node
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

T = TypeVar("T")
TOKEN = "embedded-test-token-0123456789abcdef"


class ThreadedNode:
    def __init__(self, config: NodeConfig, token: str = TOKEN) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.node = Node(config, token=token)
        self.run(self.node.start())
        options = [("grpc.max_send_message_length", -1)]
        self.channel = open_channel(config.node_id, self.node.address, Credentials(token), options)
        self.kv = pb_grpc.KVStub(self.channel)

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the node's loop (the replica is single-threaded)."""

        async def wrap() -> T:
            return fn()

        return self.run(wrap())

    def status(self) -> pb.StatusResponse:
        return self.call(self.node.status)

    def fingerprint(self) -> tuple[Any, ...]:
        st = self.status()
        return dict(st.vv), st.digest, st.keys

    def close(self) -> None:
        self.channel.close()
        try:
            self.run(self.node.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
