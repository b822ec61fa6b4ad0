"""The Watch fan-out's bounds: a watcher that never takes is overflowed past its count
and its bytes (its queue dropped, its stream told to end), and every watcher together
holds at most the node's budget, the one holding the most ended first."""

from __future__ import annotations

import asyncio

import pytest

from node.pb import remesh_pb2 as pb
from node.replication.recent import entry_bytes
from node.replication.watch import WATCH_BYTES, WATCH_TOTAL_BYTES, Watchers

pytestmark = pytest.mark.unit


def entry(i: int, size: int = 10) -> pb.Entry:
    return pb.Entry(origin="node-a@0123456789ab", seq=i + 1, hlc=i + 1, op=pb.PUT,
                    key=b"k%d" % i, value=b"v" * size)  # fmt: skip


def publish(watchers: Watchers, n: int, size: int = 10) -> None:
    for i in range(n):
        watchers.publish([entry(i, size)], [True])


def test_a_watcher_that_never_takes_overflows_past_its_count() -> None:
    async def scenario() -> None:
        ws = Watchers()
        w = ws.add(b"")
        publish(ws, 20_000)  # commits, past WATCH_QUEUE
        assert w.overflowed and w.ended.is_set()
        assert w.queue.qsize() == 1 and w.held == 0 and ws.total == 0  # dropped at once
        items, _ = await w.take(64)
        assert items == [None]  # the handler wakes, sees it overflowed, ends the stream

    asyncio.run(scenario())


def test_a_watcher_that_never_takes_overflows_past_its_bytes() -> None:
    async def scenario() -> None:
        ws = Watchers()
        w = ws.add(b"")
        peak = 0
        for i in range(40):  # 40 MiB of values, past WATCH_BYTES
            ws.publish([entry(i, 1 << 20)], [True])
            peak = max(peak, w.held)
        assert w.overflowed and w.ended.is_set() and w.held == 0
        assert peak <= WATCH_BYTES

    asyncio.run(scenario())


def test_what_a_watcher_takes_stays_held_until_released() -> None:
    async def scenario() -> None:
        ws = Watchers()
        w = ws.add(b"")
        publish(ws, 3)
        items, size = await w.take(64)
        assert len(items) == 3 and size == 3 * entry_bytes(entry(0))
        assert w.held == size == ws.total  # gRPC holds it until the next message went out
        w.release(size)
        assert w.held == 0 and ws.total == 0
        publish(ws, 2)
        ws.remove(w)  # a stream that ended gives back everything it held
        assert ws.total == 0

    asyncio.run(scenario())


def test_every_watcher_together_holds_at_most_the_nodes_budget() -> None:
    async def scenario() -> None:
        ws = Watchers(max_total=4 << 20)
        slow = ws.add(b"")
        publish(ws, 3, 1 << 20)  # slow holds 3 MiB
        fast = ws.add(b"")
        publish(ws, 2, 1 << 20)  # past 4 MiB together: the one holding the most ends
        assert slow.overflowed and not fast.overflowed
        assert ws.total == fast.held <= 4 << 20
        assert WATCH_TOTAL_BYTES >= WATCH_BYTES  # one watcher alone can use its own budget

    asyncio.run(scenario())


def test_a_lone_commit_larger_than_the_budget_still_reaches_an_empty_watcher() -> None:
    async def scenario() -> None:
        ws = Watchers(max_total=1 << 20)
        w = ws.add(b"")
        ws.publish([entry(0, 2 << 20)], [True])  # a 2 MiB PutBatch, say
        assert not w.overflowed and w.queue.qsize() == 1

    asyncio.run(scenario())
