"""Hostile catalogue: snapshot messages from a server (node/protocol/snapshot.py).

Each case: what a hostile or broken server sends inside a snapshot, the reason a person
sees; the receiver refuses before the caller merges anything of the chunk.
"""

from __future__ import annotations

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.protocol.apply import key_hash
from node.protocol.packed import PACK_HEAD, REC_HEAD
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


# ------------------------------------------------------------------ packed chunks
def packed(key: bytes, seq=1, op=pb.PUT, value=b"v", origin=b"a@000000000001", vhash=None):
    """One packed record (node/protocol/packed.py), its parts open to tampering."""
    hlc = pack(1, seq)
    if vhash is None:
        vhash = key_hash(key, hlc, origin.decode("latin-1"), op).to_bytes(16, "big")
    record = REC_HEAD.pack(hlc, op, len(origin)) + origin + seq.to_bytes(8, "big") + vhash + value
    return PACK_HEAD.pack(len(key), len(record)) + key + record


def pchunk(*records: bytes, end=b""):
    return pb.SnapshotChunk(packed=b"".join(records), end=end)


def test_packed_chunks_are_taken_in_key_order_with_their_digest_summed():
    rx = started()
    assert rx.on_chunk(pchunk(packed(b"a"), packed(b"b", 2, pb.DELETE, b""), end=b"c")) == (
        b"",
        b"c",
    )
    got = rx.unpacked
    assert got is not None and [k for k, _ in got.records] == [b"a", b"b"]
    assert got.puts == 1 and got.tombstones == [(pack(1, 2), b"b")]
    assert got.digest == key_hash(b"a", pack(1, 1), A, pb.PUT) and got.max_hlc == pack(1, 2)
    rx.on_chunk(pchunk(packed(b"c", 3)))
    rx.on_end(pb.SnapshotEnd(records=3))


GOOD = packed(b"a")


@pytest.mark.parametrize(
    "chunk, reason",
    [
        (pchunk(GOOD[:4]), "truncated record header"),
        (pchunk(GOOD[:-1]), "run past the chunk"),
        (pchunk(GOOD + b"\0"), "truncated record header"),
        (pchunk(PACK_HEAD.pack(0, 40) + b"\0" * 40), "key of 0 bytes"),
        (pchunk(packed(b"a" * 65)), "key of 65 bytes"),
        (pchunk(PACK_HEAD.pack(1, 10) + b"a" + b"\0" * 10), "too short"),
        (pchunk(packed(b"a", value=b"x" * 65)), "value of 65 bytes"),
        (pchunk(packed(b"a", op=pb.DELETE, value=b"x")), "a DELETE carries no value"),
        (pchunk(packed(b"a", op=7)), "unknown op 7"),
        (pchunk(packed(b"a", seq=0)), "seq 0 out of range"),
        (pchunk(packed(b"a", origin=b"../etc")), "bad origin"),
        (pchunk(packed(b"a", origin=b"\xff\xfe")), "bad origin"),
        (pchunk(packed(b"a", vhash=b"\0" * 16)), "version hash does not match"),
        (pchunk(packed(b"b"), packed(b"a")), "outside its chunk"),
        (pchunk(packed(b"a"), packed(b"a")), "outside its chunk"),
        (pchunk(packed(b"d"), end=b"c"), "outside its chunk"),
        (pb.SnapshotChunk(packed=GOOD, records=[rec(b"a")]), "both packed and not"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_hostile_packed_chunk_is_refused_with_a_reason(chunk, reason):
    rx = started()
    with pytest.raises(Refused, match=reason):
        rx.on_chunk(chunk)
    assert rx.records == 0 and rx.lo == b""  # nothing of it taken


def test_an_origin_length_past_its_record_is_refused():
    record = REC_HEAD.pack(1, pb.PUT, 200) + b"\0" * 24
    with pytest.raises(Refused, match="overruns the record"):
        started().on_chunk(pchunk(PACK_HEAD.pack(1, len(record)) + b"a" + record))
