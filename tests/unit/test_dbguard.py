"""The LevelDB write guard: after one failed write no other is tried until a reopen."""

from __future__ import annotations

import plyvel
import pytest

from node.pb import remesh_pb2 as pb
from node.storage.dbguard import GuardedDB, StorageError
from node.storage.store import Store

pytestmark = pytest.mark.unit


class FailingPuts:
    """Stands in for plyvel's DB object: its next ``fail`` writes raise, as a full disk's."""

    def __init__(self, db: plyvel.DB) -> None:
        self.db, self.fail = db, 1

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        if self.fail:
            self.fail -= 1
            raise plyvel.IOError(b"IO error: 000003.log: No space left on device")
        self.db.put(key, value, sync=sync)


@pytest.fixture
def db(tmp_path):
    raw = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    yield raw
    raw.close()


def test_a_block_that_raises_writes_nothing_and_tears_nothing(db) -> None:
    guard = GuardedDB(db)
    with pytest.raises(KeyError):
        with guard.write_batch(sync=True) as batch:
            batch.put(b"a", b"1")
            raise KeyError("the caller's own error")
    assert guard.get(b"a") is None and guard.torn == ""
    with guard.write_batch() as batch:
        batch.put(b"a", b"1")
    assert guard.get(b"a") == b"1"


def test_after_a_failed_write_every_write_is_refused_and_reads_go_on(db) -> None:
    guard = GuardedDB(db)
    guard.put(b"before", b"1")
    guard.raw = FailingPuts(db)
    with pytest.raises(plyvel.IOError):
        guard.put(b"k", b"v")
    assert "No space left on device" in guard.torn
    guard.raw = db  # the disk has room again: still nothing is written
    for write in (
        lambda: guard.put(b"k", b"v"),
        lambda: guard.delete(b"before"),
        lambda: guard.compact_range(b"a", b"z"),
        lambda: guard.write_batch().__enter__(),
    ):
        with pytest.raises(StorageError, match="an earlier LevelDB write failed"):
            write()
    assert guard.get(b"before") == b"1" and guard.get(b"k") is None
    assert list(guard.iterator(include_value=False)) == [b"before"]
    assert GuardedDB(db).torn == ""  # a reopened handle starts clear


class WrittenThenFailed:
    """plyvel's DB, except that its next batch reaches the log and then reports an
    error: an fsync that fails after the write, whose outcome LevelDB calls unknown."""

    def __init__(self, db: plyvel.DB) -> None:
        self.db = db

    def __getattr__(self, name: str):
        return getattr(self.db, name)

    def write_batch(self, sync: bool = False):
        batch = self.db.write_batch(sync=sync)

        class Batch:
            def __getattr__(self, name: str):
                return getattr(batch, name)

            def write(self) -> None:
                batch.write()
                raise plyvel.IOError(b"IO error: 000003.log: fsync: Input/output error")

        return Batch()


def test_a_failed_write_that_landed_after_all_stops_the_store_until_a_restart(tmp_path) -> None:
    """A write reported as failed can still be in LevelDB's log: reopening replays it,
    and a store that went on from its memory (vv, digest) would give the next write the
    same seq. Reopen finds it out and refuses; a restart recovers from the disk."""
    store = Store(tmp_path / "s")
    store.commit([entry(1, b"a")])
    store.db.raw = WrittenThenFailed(store.db.raw)
    with pytest.raises(plyvel.IOError):
        store.commit([entry(2, b"b")])
    assert store.vv == {"node-a.1": 1} and store.torn
    with pytest.raises(StorageError, match="restart the node"):
        store.reopen()
    handle = store.db
    with pytest.raises(StorageError, match="restart the node"):
        store.reopen()  # the probe's next round: no reopen again and again
    assert store.db is handle and not handle.closed
    with pytest.raises(StorageError):
        store.commit([entry(2, b"other")])  # never a second write under seq 2
    assert store.torn and store.get(b"b") is not None  # reads see what the disk holds
    store.close()
    again = Store(tmp_path / "s")
    assert again.recover({}) == {"node-a.1": 2} and again.vv == {"node-a.1": 2}
    again.close()


def test_a_failed_write_that_did_not_land_is_healed_by_a_reopen(tmp_path) -> None:
    store = Store(tmp_path / "s")
    store.commit([entry(1, b"a")])
    raw = store.db.raw
    store.db.raw = FailingBatches(raw)
    with pytest.raises(plyvel.IOError):
        store.commit([entry(2, b"b")])
    store.reopen()
    assert store.torn == "" and store.commit([entry(2, b"b")]) == [True]
    assert store.vv == {"node-a.1": 2}
    store.close()


class FailingBatches:
    """plyvel's DB, except that its next batch fails before anything reaches the log."""

    def __init__(self, db: plyvel.DB) -> None:
        self.db = db

    def __getattr__(self, name: str):
        return getattr(self.db, name)

    def write_batch(self, sync: bool = False):
        class Batch:
            def put(self, key: bytes, value: bytes) -> None:
                pass

            def delete(self, key: bytes) -> None:
                pass

            def write(self) -> None:
                raise plyvel.IOError(b"IO error: 000003.log: No space left on device")

        return Batch()


def entry(seq: int, key: bytes) -> pb.Entry:
    return pb.Entry(origin="node-a.1", seq=seq, hlc=seq << 16, op=pb.PUT, key=key, value=b"v")
