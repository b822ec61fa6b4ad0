import random

import pytest

from node.pb import remesh_pb2 as pb
from node.protocol import Cursor, exclusions, triage, wins
from node.replication.recent import Recent, entry_bytes
from tests.memreplica import MemoryReplica

pytestmark = pytest.mark.unit


def e(origin, seq, hlc=1, key=b"k"):
    return pb.Entry(origin=origin, seq=seq, hlc=hlc, op=pb.PUT, key=key, value=b"v")


def test_wins_orders_by_hlc_then_origin():
    assert wins((2, "a"), (1, "z"))
    assert wins((1, "b"), (1, "a"))
    assert not wins((1, "a"), (1, "a"))
    assert wins((0, "a"), None)


def test_triage_accepts_next_in_line_and_sorts_out_the_rest():
    t = triage({"a": 2}, [e("a", 2), e("a", 3), e("a", 5), e("a", 4), e("b", 1), e("b", 1)])
    assert [(x.origin, x.seq) for x in t.accepted] == [("a", 3), ("a", 4), ("b", 1)]
    assert (t.duplicates, t.early, t.vv) == (2, 1, {"a": 4, "b": 1})


def test_cursor_never_echoes_to_the_subscriber_and_honours_exclusions():
    c = Cursor("b", {}, exclude=["c"])
    assert c.ranges({"a": 3, "b": 9, "c": 4}, 100) == [("a", 1, 3)]
    c.set_exclude([])
    assert c.ranges({"a": 3, "b": 9, "c": 4}, 100) == [("a", 1, 3), ("c", 1, 4)]


def test_cursor_moves_on_send_and_jumps_on_ack():
    c = Cursor("b", {"a": 1})
    c.on_sent([e("a", 2), e("a", 3)])
    assert c.ranges({"a": 5}, 100) == [("a", 4, 5)]
    c.on_ack({"a": 5})
    assert c.ranges({"a": 5}, 100) == []
    assert c.lag({"a": 7, "b": 3}) == 2  # the subscriber's own origin is not lag


def test_cursor_shares_the_budget_between_origins():
    c = Cursor("x", {})
    ranges = c.ranges({"a": 1000, "b": 1000}, 10)
    assert ranges == [("a", 1, 5), ("b", 1, 5)]


def test_exclusions_are_the_other_live_direct_links():
    assert exclusions("b", ["a", "b", "c"]) == ["a", "c"]


def test_memory_replica_write_and_receive():
    a, b = MemoryReplica("a"), MemoryReplica("b")
    x = a.write(b"k", b"1", 100)
    b.receive([x])
    y = b.write(b"k", b"2", 50)  # b's clock saw x: its write wins despite older wall time
    assert y.hlc > x.hlc
    a.receive([y])
    assert a.live() == b.live() == {b"k": b"2"} and a.digest == b.digest


def test_recent_entries_serve_the_head_and_refuse_what_they_dropped():
    r = Recent(cap=4)
    r.add([e("a", s) for s in range(1, 10)])  # over 2*cap: the oldest 4 dropped
    assert r.get("a", 1, 3) is None  # older than what is kept: read the log
    assert [x.seq for x in r.get("a", 5, 7)] == [5, 6, 7]
    assert [x.seq for x in r.get("a", 8, 20)] == [8, 9]
    assert r.get("b", 1, 1) is None


def test_recent_entries_are_bounded_in_bytes_and_drop_the_biggest_origin_first():
    big = [pb.Entry(origin="a", seq=s, key=b"k", value=b"x" * 1000) for s in range(1, 11)]
    small = [pb.Entry(origin="b", seq=s, key=b"k", value=b"y") for s in range(1, 4)]
    r = Recent(cap=100, max_bytes=5000)
    r.add(small)
    r.add(big)
    assert r.total <= 5000 and r.total == sum(r.bytes.values())
    assert [x.seq for x in r.get("b", 1, 3)] == [1, 2, 3]  # the small origin is kept
    kept = r.base["a"]
    assert kept > 1 and r.get("a", 1, 10) is None  # the oldest of the big one went
    assert [x.seq for x in r.get("a", kept, 10)] == list(range(kept, 11))
    r.add([pb.Entry(origin="c", seq=1, key=b"k", value=b"z" * 10_000)])  # over budget alone
    assert r.get("c", 1, 1) is None and r.total <= 5000


def test_recent_entries_count_their_bytes_exactly_across_runs_of_origins():
    """Batches interleave runs of origins (and overflow a cap mid-run): the per-origin
    and total byte counts always equal what the kept entries hold."""
    rng = random.Random(7)
    r = Recent(cap=5, max_bytes=20_000)
    seqs = {"a": 0, "b": 0, "c": 0}
    for _ in range(200):
        batch = []
        for _ in range(rng.randint(1, 30)):
            origin = rng.choice("abc")
            seqs[origin] += 1
            batch.append(e(origin, seqs[origin]))
            batch[-1].value = b"v" * rng.randint(0, 300)
        r.add(batch)
        for origin, items in r.items.items():
            assert r.bytes[origin] == sum(entry_bytes(x) for x in items), origin
            assert [x.seq for x in items] == list(range(r.base[origin], seqs[origin] + 1))
        assert r.total == sum(r.bytes.values()) <= 20_000
