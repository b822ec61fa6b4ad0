"""Hostile catalogue: snapshot messages from a server (node/protocol/snapshot.py).

Each case: what a hostile or broken server sends inside a snapshot, the reason a person
sees; the receiver refuses before the caller merges anything of the chunk.
"""

from __future__ import annotations

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.protocol.snapshot import SnapshotReceiver
from node.protocol.validate import WriteLimits

pytestmark = pytest.mark.unit

A = "a@000000000001"

LIMITS = WriteLimits(64, 64)


def rec(key: bytes, seq: int = 1, op=pb.PUT, value=b"v", origin=A) -> pb.Entry:
    return pb.Entry(origin=origin, seq=seq, hlc=pack(1, seq), op=op, key=key, value=value)


def chunk(*records, end=b""):
    return pb.SnapshotChunk(records=records, end=end)


def started() -> SnapshotReceiver:
    rx = SnapshotReceiver("b", LIMITS)
    rx.on_begin(pb.SnapshotBegin(vv={A: 3}, tops={A: 9}, records=3))
    return rx


def test_the_receiver_takes_chunks_in_key_order_and_an_end_that_counts_them():
    rx = started()
    assert rx.on_chunk(chunk(rec(b"a"), rec(b"b"), end=b"c")) == (b"", b"c")
    assert rx.on_chunk(chunk(rec(b"c"), end=b"")) == (b"c", b"")
    rx.on_end(pb.SnapshotEnd(records=3))
    assert not rx.active and rx.vv == {A: 3}


@pytest.mark.parametrize(
    "steps, reason",
    [
        ([chunk(rec(b"b"), rec(b"a"), end=b"c")], "outside its chunk"),
        ([chunk(rec(b"d"), end=b"c")], "outside its chunk"),
        ([chunk(end=b"c"), chunk(end=b"b")], "out of key order"),
        ([chunk(rec(b"a" * 65), end=b"")], "bad snapshot record"),
        ([chunk(rec(b"a", op=pb.DELETE, value=b"x"))], "bad snapshot record"),
        ([chunk(rec(b"a", origin="no origin"))], "bad snapshot record"),
        ([pb.SnapshotEnd(records=0)], "before its last chunk"),
        ([chunk(rec(b"a")), pb.SnapshotEnd(records=5)], "said 5"),
        ([chunk(rec(b"a")), chunk(rec(b"b"))], "outside a snapshot"),
    ],
)
def test_a_hostile_snapshot_is_refused_with_a_reason(steps, reason):
    rx = started()
    with pytest.raises(Refused, match=reason):
        for step in steps:
            if isinstance(step, pb.SnapshotEnd):
                rx.on_end(step)
            else:
                rx.on_chunk(step)


def test_a_snapshot_vv_with_a_bad_origin_is_refused():
    with pytest.raises(Refused, match="bad origin"):
        SnapshotReceiver("b", LIMITS).on_begin(pb.SnapshotBegin(vv={"../x": 1}))
