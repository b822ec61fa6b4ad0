"""Giving the disk back: when a compaction of what truncation and GC deleted is due
(pure), and that one changes nothing a reader can see (LevelDB on a temp dir)."""

from __future__ import annotations

import os

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol.compaction import RECLAIM_MIN, reclaim_due
from node.storage.store import Store
from node.storage.trim import (
    collect_tombstones,
    live_records,
    log_held,
    reclaim_ranges,
    truncate_log,
)

pytestmark = pytest.mark.unit

A, B = "a@000000000001", "b@000000000001"


def test_a_compaction_is_due_once_the_garbage_is_half_the_live_records_or_a_quiet_sixteenth():
    assert not reclaim_due(RECLAIM_MIN - 1, 0, idle=False)  # too little while busy
    assert reclaim_due(RECLAIM_MIN - 1, 10_000, idle=True)  # a quiet node settles
    assert not reclaim_due(0, 0, idle=True)
    assert reclaim_due(5000, 10_000, idle=False)
    assert not reclaim_due(4999, 10_000, idle=False)
    assert not reclaim_due(1000, 20_000, idle=False)
    assert reclaim_due(1250, 20_000, idle=True)
    assert not reclaim_due(1249, 20_000, idle=True)


def test_the_ranges_cover_the_truncated_logs_and_the_state_only_after_gc(tmp_path):
    s = Store(tmp_path / "d")
    s.commit([pb.Entry(origin=o, seq=i, hlc=pack(i, 0), op=pb.PUT, key=b"k", value=b"v")
              for o in (A, B) for i in range(1, 4)])  # fmt: skip
    truncate_log(s, A, 2, 100)
    truncate_log(s, B, 1, 100)
    (start, stop), = reclaim_ranges(s, [B, A], collected=False)
    assert start == b"l" + A.encode() + b"\0"
    assert stop == b"l" + B.encode() + b"\0" + (2).to_bytes(8, "big")  # B's point + 1
    assert reclaim_ranges(s, [], collected=True) == [(b"d", b"l")]


def du(path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def test_compacting_after_truncation_and_gc_frees_disk_and_changes_no_state(tmp_path):
    """Overwrites of a few keys, their log truncated and a tombstone collected, then the
    compaction steps: the state, digest, counts, vv and log tail read the same, before
    and after a restart, and the directory holds a fraction of what it did."""
    s = Store(tmp_path / "d", write_buffer=64 << 10)
    seq = 0
    for _ in range(40):
        batch = []
        for k in range(100):
            seq += 1
            batch.append(pb.Entry(origin=A, seq=seq, hlc=pack(seq, 0), op=pb.PUT,
                                  key=b"k%03d" % k, value=os.urandom(200)))  # fmt: skip
        s.commit(batch)
    seq += 1
    s.commit([pb.Entry(origin=A, seq=seq, hlc=pack(seq, 0), op=pb.DELETE, key=b"k000")])
    while truncate_log(s, A, seq - 50, 500):
        pass
    assert collect_tombstones(s, pack(seq + 1, 0), lambda r: True, 100)[0] == 1
    before = (s.digest, s.keys, s.tombs, dict(s.vv), dict(s.truncated), log_held(s))
    state = list(s.db.iterator(prefix=b"k"))
    tail = s.read_log(A, seq - 49, seq)
    full = du(tmp_path / "d")
    for start, stop in reclaim_ranges(s, [A], collected=True):
        s.compact(start, stop)
    assert (s.digest, s.keys, s.tombs, dict(s.vv), dict(s.truncated), log_held(s)) == before
    assert list(s.db.iterator(prefix=b"k")) == state and s.read_log(A, seq - 49, seq) == tail
    assert (s.digest, s.keys) == s.recompute_digest() and live_records(s) == 99 + 50
    assert du(tmp_path / "d") < full / 4, (du(tmp_path / "d"), full)
    s.close()
    s = Store(tmp_path / "d")
    s.recover({})
    assert (s.digest, s.keys, s.tombs, dict(s.vv), dict(s.truncated), log_held(s)) == before
    assert list(s.db.iterator(prefix=b"k")) == state


def test_a_reclaim_frees_what_was_written_and_deleted_in_one_memtable(tmp_path):
    """Every write and its truncation still in the memtable (the default 32 MiB write
    buffer, a fresh store): LevelDB flushes them as one table placed two levels down,
    out of reach of a one-pass range compaction. The reclaim still frees them."""
    s = Store(tmp_path / "d")
    for seq in range(1, 3001):
        s.commit([pb.Entry(origin=A, seq=seq, hlc=pack(seq, 0), op=pb.PUT,
                           key=b"k%03d" % (seq % 100), value=os.urandom(100))])  # fmt: skip
    while truncate_log(s, A, 2960, 500):
        pass
    before = (s.digest, s.keys, dict(s.vv), log_held(s))
    for start, stop in reclaim_ranges(s, [A], collected=False):
        s.compact(start, stop)
    assert (s.digest, s.keys, dict(s.vv), log_held(s)) == before
    assert du(tmp_path / "d") < 100_000, du(tmp_path / "d")  # about 500 KB written
    s.close()
