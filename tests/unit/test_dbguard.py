"""The LevelDB write guard: after one failed write no other is tried until a reopen."""

from __future__ import annotations

import plyvel
import pytest

from node.dbguard import GuardedDB, StorageError


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
