"""The node embedded in-process through the library API, over real gRPC and LevelDB."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from node.app import Node
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration


async def until(cond, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def config(tmp: Path, name: str, **kw) -> NodeConfig:
    return NodeConfig(
        node_id=name,
        data_dir=tmp / name,
        cluster="lib",
        heartbeat_ms=100,
        link_timeout_ms=1000,
        **kw,
    )


def test_two_embedded_nodes_replicate_and_restart(tmp_path):
    async def main():
        a, b = Node(config(tmp_path, "a")), Node(config(tmp_path, "b", durability="sync"))
        await a.start()
        await b.start()
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        v = await a.put(b"k", b"v1")
        assert v.origin == "a" and v.seq == 1
        await until(lambda: b.get(b"k") is not None, 10, "k at b")
        assert b.get(b"k").value == b"v1"
        await b.delete(b"k")
        await until(lambda: a.get(b"k") is None, 10, "delete at a")
        versions = await b.write_batch(
            [pb.Write(op=pb.PUT, key=b"x%d" % i, value=b"y") for i in range(100)]
        )
        assert [v.seq for v in versions] == list(range(2, 102))
        await until(lambda: len(a.scan(b"x")) == 100, 10, "batch at a")
        assert a.status().digest == b.status().digest
        await a.stop()
        await b.stop()
        # Reopen from the same data dir: everything is still there.
        a2 = Node(config(tmp_path, "a"))
        await a2.start()
        assert len(a2.scan(b"x")) == 100 and a2.get(b"k") is None
        assert a2.status().recovered_from["b"] == 101
        await a2.stop()

    asyncio.run(main())


def test_watch_streams_local_and_replicated_changes(tmp_path):
    async def main():
        a, b = Node(config(tmp_path, "a")), Node(config(tmp_path, "b"))
        await a.start()
        await b.start()
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        async with grpc.aio.insecure_channel(b.address) as ch:
            stream = pb_grpc.KVStub(ch).Watch(pb.WatchRequest(prefix=b"w/"))
            await until(lambda: b.replica.watchers, 5, "watch registered")
            await a.put(b"w/1", b"remote")
            await b.put(b"w/2", b"local")
            await b.put(b"other", b"ignored")
            got = []
            while len(got) < 2:
                got.extend((await stream.read()).changes)
            stream.cancel()
        assert sorted((c.entry.key, c.entry.origin, c.won) for c in got) == [
            (b"w/1", "a", True),
            (b"w/2", "b", True),
        ]
        assert all(c.applied_unix_ns > 0 for c in got)
        await a.stop()
        await b.stop()

    asyncio.run(main())
