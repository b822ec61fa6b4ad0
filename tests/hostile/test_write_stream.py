"""The Writes stream (an embedded node, real gRPC and LevelDB): one write per message,
each answered once committed and in order; a bad write is answered with the error Put
would give and stores nothing, and the stream goes on; a decommissioned node answers
what it took and ends the stream; the window holds a client that does not read."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import grpc
import pytest

from node.api.gate import WriteGate
from node.api.writestream import WINDOW, Window, serve_writes
from node.pb import remesh_pb2 as pb
from tests.hostile.test_client_input import CASES

pytestmark = pytest.mark.component


def test_pipelined_writes_are_answered_in_order_and_all_stored(node):
    writes = [pb.Write(key=b"k%d" % (i % 50), value=b"v%d" % i) for i in range(600)]
    results = list(node.kv.Writes(iter(writes), timeout=30))
    assert len(results) == len(writes)
    assert all(r.version.seq and not r.error for r in results)
    seqs = [r.version.seq for r in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "answers out of order"
    for i in range(550, 600):  # the last write to each key won: sent order is commit order
        got = node.kv.Get(pb.GetRequest(key=b"k%d" % (i % 50)), timeout=10)
        assert got.found and got.value == b"v%d" % i


def test_a_delete_on_the_stream_is_a_delete(node):
    results = list(node.kv.Writes(iter([pb.Write(op=pb.DELETE, key=b"kept")]), timeout=10))
    assert results[0].version.seq and not results[0].error
    assert not node.kv.Get(pb.GetRequest(key=b"kept"), timeout=10).found


# Every single-write case of the client catalogue, sent between two good writes.
SINGLE = [
    (case, pb.Write(op=pb.PUT, key=r.key, value=r.value))
    for case, method, r, _ in CASES
    if method == "Put"
]
SINGLE.append(("Delete with an empty key", pb.Write(op=pb.DELETE, key=b"")))
SINGLE.append(("op 7", pb.Write(op=7, key=b"j", value=b"v")))
SINGLE.append(("DELETE with a value", pb.Write(op=pb.DELETE, key=b"j", value=b"v")))
TEXTS = {case: text for case, _, _, text in CASES}
TEXTS.update({"op 7": "unknown op 7", "DELETE with a value": "a DELETE carries no value"})


@pytest.mark.parametrize(("case", "bad"), SINGLE, ids=[c for c, _ in SINGLE])
def test_a_bad_write_is_answered_with_its_error_and_the_stream_goes_on(node, case, bad):
    before = node.fingerprint()
    alone = list(node.kv.Writes(iter([bad]), timeout=10))
    assert len(alone) == 1 and not alone[0].HasField("version")
    assert alone[0].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert TEXTS[case] in alone[0].error
    assert node.fingerprint() == before, "a refused write changed something"

    good = [pb.Write(key=b"before", value=b"1"), bad, pb.Write(key=b"after", value=b"2")]
    results = list(node.kv.Writes(iter(good), timeout=10))
    assert [bool(r.error) for r in results] == [False, True, False]
    assert node.status().keys == before[2] + 2


def test_a_decommissioned_node_answers_what_it_took_then_ends_the_stream(node):
    sent = threading.Event()

    def writes() -> Iterator[pb.Write]:
        yield pb.Write(key=b"first", value=b"1")
        sent.wait(10)
        yield pb.Write(key=b"second", value=b"2")

    call = node.kv.Writes(writes(), timeout=30)
    first = next(call)
    assert first.version.seq
    node.call(node.node.gate.close)
    sent.set()
    with pytest.raises(grpc.RpcError) as err:
        next(call)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "decommissioned" in err.value.details()
    assert node.kv.Get(pb.GetRequest(key=b"second"), timeout=10).found is False
    with pytest.raises(grpc.RpcError) as again:
        list(node.kv.Writes(iter([pb.Write(key=b"x", value=b"1")]), timeout=10))
    assert again.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_window_bounds_writes_in_flight_by_count_and_bytes():
    async def scenario() -> list[str]:
        seen: list[str] = []
        w = Window(count=2, size=10)
        await w.take(4)
        await w.take(4)
        blocked = asyncio.ensure_future(w.take(1))  # count full
        await asyncio.sleep(0)
        seen.append(f"count full: {blocked.done()}")
        w.give(4)
        await asyncio.wait_for(blocked, 1)
        w.give(4)
        big = asyncio.ensure_future(w.take(8))  # 1 + 8 <= 10 fits
        await asyncio.wait_for(big, 1)
        over = asyncio.ensure_future(w.take(2))  # 9 + 2 > 10: waits
        await asyncio.sleep(0)
        seen.append(f"bytes full: {over.done()}")
        w.give(1)
        w.give(8)
        await asyncio.wait_for(over, 1)
        lone = Window(count=2, size=10)
        await asyncio.wait_for(lone.take(50), 1)  # one write bigger than the budget, alone
        seen.append("lone ok")
        return seen

    assert asyncio.run(scenario()) == ["count full: False", "bytes full: False", "lone ok"]


class _StuckReplica:
    """A replica seam whose commits wait until released: writes pile up in flight."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def write(self, writes):
        self.calls += 1
        seq = self.calls
        await self.release.wait()
        return [pb.Version(hlc=seq, origin="node-a@1", seq=seq)]


def _writes(n: int, pulled: list[int]):
    async def gen():
        for i in range(n):
            pulled[0] += 1
            yield pb.Write(key=b"k%d" % i, value=b"v")

    return gen()


async def _settle(turns: int = 20 * WINDOW) -> None:
    for _ in range(turns):  # loop turns, not time: until every reader has stopped
        await asyncio.sleep(0)


def test_a_stream_reads_no_further_than_its_window_while_commits_wait():
    """However fast a client sends, the node holds at most WINDOW writes of one stream in
    flight; the rest stay unread (gRPC's flow control keeps them on the client's side)."""

    async def scenario() -> None:
        replica, pulled, node_window = _StuckReplica(), [0], Window(10 * WINDOW, 1 << 30)
        requests = _writes(3 * WINDOW, pulled)
        stream = serve_writes(replica, WriteGate("node-a"), requests, None, node_window)
        first = asyncio.ensure_future(stream.__anext__())
        await _settle()
        assert replica.calls == WINDOW, f"{replica.calls} writes in flight; window {WINDOW}"
        assert pulled[0] == WINDOW + 1  # the one in hand waits for room
        assert node_window.count == WINDOW
        replica.release.set()
        results = [await first] + [r async for r in stream]
        assert [r.version.seq for r in results] == list(range(1, 3 * WINDOW + 1))
        assert (node_window.count, node_window.bytes) == (0, 0)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_the_node_window_bounds_every_stream_together_and_a_stream_gone_gives_back():
    """Streams share the node's window: two streams of a node whose window is 300 writes
    hold 300 in flight between them, not 2 x 256; a stream whose client goes away gives
    its share back, and the other goes on."""

    async def scenario() -> None:
        replica, node_window = _StuckReplica(), Window(300, 1 << 30)
        gate = WriteGate("node-a")
        one = serve_writes(replica, gate, _writes(400, [0]), None, node_window)
        two = serve_writes(replica, gate, _writes(400, [0]), None, node_window)
        heads = [asyncio.ensure_future(s.__anext__()) for s in (one, two)]
        await _settle()
        assert replica.calls == node_window.count == 300, replica.calls
        heads[0].cancel()  # the first client goes away
        await asyncio.gather(heads[0], return_exceptions=True)
        await one.aclose()
        await _settle()
        # its share went back: the other stream now holds its own full window
        assert node_window.count == WINDOW and replica.calls > 300, replica.calls
        replica.release.set()
        results = [await heads[1]] + [r async for r in two]
        assert len(results) == 400
        assert (node_window.count, node_window.bytes) == (0, 0)

    asyncio.run(asyncio.wait_for(scenario(), 60))
