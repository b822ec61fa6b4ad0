"""The node embedded in-process through the library API, over real gRPC and LevelDB."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from node.app import Node
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from tests.integration import embedded
from tests.integration.embedded import linked_pair, running_pair, until

pytestmark = pytest.mark.integration


def config(tmp: Path, name: str, **kw) -> NodeConfig:
    return embedded.config(tmp, name, "lib", **kw)


def test_two_embedded_nodes_replicate_and_restart(tmp_path):
    async def main():
        a, b = await linked_pair(config(tmp_path, "a"), config(tmp_path, "b", durability="sync"))
        v = await a.put(b"k", b"v1")
        assert v.origin == a.status().replica_id and v.origin.startswith("a@") and v.seq == 1
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
        b_origin = b.status().replica_id
        await a.stop()
        await b.stop()
        # Reopen from the same data dir: everything is still there.
        a2 = Node(config(tmp_path, "a"))
        await a2.start()
        assert len(a2.scan(b"x")) == 100 and a2.get(b"k") is None
        assert a2.status().recovered_from[b_origin] == 101
        await a2.stop()

    asyncio.run(main())


def test_watch_streams_local_and_replicated_changes(tmp_path):
    async def main():
        a, b = await linked_pair(config(tmp_path, "a"), config(tmp_path, "b"))
        async with grpc.aio.insecure_channel(b.address) as ch:
            stream = pb_grpc.KVStub(ch).Watch(pb.WatchRequest(prefix=b"w/"))
            await until(lambda: b.replica.watchers.active, 5, "watch registered")
            await a.put(b"w/1", b"remote")
            await b.put(b"w/2", b"local")
            await b.put(b"other", b"ignored")
            got = []
            while len(got) < 2:
                got.extend((await stream.read()).changes)
            stream.cancel()
        assert sorted((c.entry.key, c.entry.origin, c.won) for c in got) == [
            (b"w/1", a.status().replica_id, True),
            (b"w/2", b.status().replica_id, True),
        ]
        assert all(c.applied_unix_ns > 0 for c in got)
        await a.stop()
        await b.stop()

    asyncio.run(main())


def test_a_failed_commit_fails_put_and_putbatch_with_unavailable(tmp_path, caplog):
    """Disk full at commit time: the client sees UNAVAILABLE saying nothing was written,
    nothing is acknowledged or readable, and the node serves again once the disk does."""

    async def main():
        a = Node(config(tmp_path, "a"))
        await a.start()
        commit = a.replica.store.commit

        def disk_full(entries, sync=False):
            raise OSError(28, "No space left on device")

        a.replica.store.commit = disk_full
        async with grpc.aio.insecure_channel(a.address) as ch:
            kv = pb_grpc.KVStub(ch)
            calls = [
                kv.Put(pb.PutRequest(key=b"k", value=b"v"), timeout=5),
                kv.PutBatch(pb.PutBatchRequest(writes=[pb.Write(key=b"j", value=b"w")]), timeout=5),
            ]
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "No space left on device" in err.value.details()
                assert "nothing was written" in err.value.details()
            for key in (b"k", b"j"):
                assert not (await kv.Get(pb.GetRequest(key=key), timeout=5)).found
            assert dict(a.status().vv) == {}
            a.replica.store.commit = commit
            r = await kv.Put(pb.PutRequest(key=b"k", value=b"v"), timeout=5)
            assert r.version.seq == 1
        await a.stop()

    asyncio.run(main())
    assert "local writes failed: [Errno 28] No space left on device" in caplog.text


def test_a_replicated_batch_whose_commit_fails_moves_no_vv_or_ack_and_is_stored_on_retry(
    tmp_path, caplog
):
    """The replicated twin of a failed local commit: b's LevelDB refuses the WriteBatch
    of a's entries (disk full). b's vv, and so what it acknowledges to a, must not move:
    a vv ahead of the disk would tell a (and b's own next apply) that b holds them, and
    nothing would send them again. Once the disk takes writes, the link's retry stores
    them. Only a commit writes a WriteBatch on b here."""
    n = 50

    async def main():
        async with running_pair(config(tmp_path, "a"), config(tmp_path, "b")) as (a, b):
            await refused_then_retried(a, b)

    async def refused_then_retried(a: Node, b: Node) -> None:
        db = b.replica.store.db
        refused: list[int] = []

        @contextmanager
        def disk_full(transaction=True, sync=False):
            yield db.raw.write_batch()  # filled by the commit, never written
            refused.append(1)
            raise OSError(28, "No space left on device")

        db.write_batch = disk_full
        await a.write_batch(
            [pb.Write(op=pb.PUT, key=b"r%02d" % i, value=b"v%d" % i) for i in range(n)]
        )
        origin = a.status().replica_id

        def b_holds_none() -> None:
            assert b.status().vv.get(origin, 0) == 0, "b's vv moved past a failed commit"
            assert b.get(b"r00") is None and b.get(b"r%02d" % (n - 1)) is None
            sent_to_b = {p.peer: p for p in a.status().peers}["b"]
            assert sent_to_b.lag == n, f"b acknowledged what it failed to store: {sent_to_b}"

        await until(lambda: refused, 10, "b to try to store a's entries")
        b_holds_none()
        # the link fails, connects again and is sent them again: Hello and acks say as much
        await until(lambda: len(refused) >= 2, 30, "b to try again after a new Hello")
        b_holds_none()
        del db.write_batch  # the disk has room again
        await until(lambda: b.status().vv.get(origin, 0) == n, 30, "the retry to store them")
        assert [b.get(b"r%02d" % i).value for i in range(n)] == [b"v%d" % i for i in range(n)]
        await until(
            lambda: {p.peer: p for p in a.status().peers}["b"].lag == 0, 30, "b to ack them"
        )

    asyncio.run(main())
    assert "cannot store entries from a: [Errno 28] No space left on device" in caplog.text
