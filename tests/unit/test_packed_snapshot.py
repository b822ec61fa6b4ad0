"""Packed snapshot chunks (node/protocol/packed.py) merged by a store (LevelDB on a
temp dir): the same state, digest, counts and tombstone index as the same snapshot sent
as Entry records, into a new node (records stored as they came) and into one holding
older versions and covered records (the general merge)."""

from __future__ import annotations

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol.snapshot import SnapshotReceiver
from node.protocol.validate import WriteLimits
from node.protocol.vouch import Known, judge
from node.storage.store import KEY, TOMB, Store
from node.storage.trim import (
    collect_tombstones,
    finish_snapshot,
    merge_packed,
    merge_snapshot,
    snapshot_pages,
)

pytestmark = pytest.mark.unit

A, B = "a@000000000001", "b@000000000001"


def entry(origin: str, seq: int, key: bytes, value: bytes | None, ms: int) -> pb.Entry:
    op = pb.DELETE if value is None else pb.PUT
    return pb.Entry(origin=origin, seq=seq, hlc=pack(ms, 0), op=op, key=key, value=value or b"")


def source(path) -> Store:
    src = Store(path)
    src.commit([entry(A, i, b"k%02d" % i, b"v%d" % i, i) for i in range(1, 20)])
    src.commit([entry(A, 20, b"k01", None, 20), entry(A, 21, b"k02", None, 21)])
    collect_tombstones(src, pack(21, 0), lambda r: True, 100)  # k01's tombstone goes
    return src


def receive(src: Store, dst: Store, packed: bool) -> None:
    vv, tops, records, pages = snapshot_pages(src, 4, 1 << 20, packed=packed)
    rx = SnapshotReceiver("src", WriteLimits(64, 64))
    rx.on_begin(pb.SnapshotBegin(vv=vv, tops=tops, records=records, gc_horizon=src.horizon))
    known = Known(B, dict(dst.vv), dict(dst.tops), "", {}, None, frozenset(), 10**6, 0, 0)
    taken = judge("src", rx.vv, rx.tops, rx.horizon, known)
    for chunk, count in pages:
        assert bool(chunk.packed) is packed and (packed or len(chunk.records) == count)
        lo, end = rx.on_chunk(chunk)
        if rx.unpacked is not None:
            assert len(rx.unpacked.records) == count
            merge_packed(dst, rx.unpacked, lo, end, taken.drops)
        else:
            merge_snapshot(dst, chunk.records, lo, end, taken.drops)
    rx.on_end(pb.SnapshotEnd(records=rx.records))
    finish_snapshot(dst, taken.moved, rx.tops, B, taken.horizon)


def held(s: Store) -> tuple:
    return (
        list(s.db.iterator(prefix=KEY)),
        list(s.db.iterator(prefix=TOMB)),
        s.digest,
        s.keys,
        s.tombs,
        s.hlc,
        dict(s.vv),
    )


@pytest.mark.parametrize("holding", [False, True], ids=["new node", "holding older data"])
def test_a_packed_snapshot_gives_the_state_the_entry_records_give(tmp_path, holding):
    src = source(tmp_path / "src")
    stores = {}
    for packed in (False, True):
        dst = Store(tmp_path / f"dst-{packed}")
        if holding:  # an older put of k01 (covered: A seq 1, since deleted) and its own key
            dst.commit([entry(A, 1, b"k01", b"v1", 1), entry(B, 1, b"zz", b"mine", 30)])
        receive(src, dst, packed)
        assert (dst.digest, dst.keys) == dst.recompute_digest()
        assert dst.get(b"k01") is None and dst.get(b"k02").op == pb.DELETE
        stores[packed] = dst
    assert held(stores[True]) == held(stores[False])
    assert stores[True].keys == src.keys + holding and stores[True].tombs == src.tombs == 1
    stores[True].close()
    again = Store(tmp_path / "dst-True")
    again.recover({})
    assert held(again)[:5] == held(stores[False])[:5]


def test_the_longest_key_a_node_accepts_travels_packed(tmp_path):
    """max_key_bytes may be 64 KiB: one more than a u16 length could say."""
    src = Store(tmp_path / "src")
    key = b"k" * (64 << 10)
    src.commit([entry(A, 1, key, b"v", 1)])
    vv, tops, records, pages = snapshot_pages(src, 4, 1 << 20, packed=True)
    rx = SnapshotReceiver("src", WriteLimits(64 << 10, 64))
    rx.on_begin(pb.SnapshotBegin(vv=vv, tops=tops, records=records))
    (chunk, count), = pages
    rx.on_chunk(chunk)
    assert rx.unpacked is not None and rx.unpacked.records[0][0] == key and count == 1
