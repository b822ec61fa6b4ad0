"""The LevelDB handle: how it is opened, and every write watched (after one fails,
none is tried again).

``open_db`` refuses to start empty over a directory that held data, and turns
corruption into one clear message.

A write that fails part-way (a full disk, an I/O error) can leave a torn record at the
end of LevelDB's log, and LevelDB goes on appending after it: its log writer counts the
bytes it meant to write, not those that reached the file. When the log is replayed at
the next start, every record after the torn one is lost, including writes acknowledged
after the disk had room again (tests/hostile/test_storage_faults.py reproduced 50 of 50
lost). A failed sync write is worse: LevelDB then fails every later write itself.

So the first failed write marks the handle torn, and every later write (commit, meta,
truncation, snapshot intake, compaction) is refused with a ``StorageError`` that says
why, before it reaches LevelDB. Reads go on. Only reopening LevelDB clears it: opening
replays the log up to the torn record into a table and starts a new log
(``Store.reopen``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plyvel


class StorageError(OSError):
    """The data directory cannot be used; the message says which file and what to do."""


WRITE_BUFFER = 32 << 20  # a node sets it (write_buffer_kib); see docs/benchmarks.md


def open_db(dbdir: Path, write_buffer: int = WRITE_BUFFER) -> plyvel.DB:
    """Open (or create) the LevelDB, refusing to start empty over one that held data.

    LevelDB told to create a missing database over a directory whose ``CURRENT`` is
    gone would write a new one and then delete the old tables as obsolete: the data
    would vanish without a word. That, corruption and an unusable directory are each
    one clear message instead of a traceback.
    """
    if dbdir.is_dir() and not (dbdir / "CURRENT").exists():
        held = sorted(
            p.name for p in dbdir.iterdir() if p.suffix in (".ldb", ".log", ".sst")
        ) + sorted(p.name for p in dbdir.glob("MANIFEST-*"))
        if held:
            raise StorageError(
                f"{dbdir / 'CURRENT'} is missing but the directory holds data "
                f"({', '.join(held[:3])}...): LevelDB is damaged. Restore the directory "
                f"from a backup, or move it away to start empty as a new incarnation "
                f"(peers send back everything they hold)"
            )
    try:
        # Bloom filters spare the state lookups of new keys a disk read. The memtable
        # (write buffer) is also the size the .log file reaches before a flush: disk
        # held beyond the data, so it is a setting (docs/compaction.md, "Disk").
        return plyvel.DB(
            str(dbdir),
            create_if_missing=True,
            bloom_filter_bits=10,
            write_buffer_size=write_buffer,
            lru_cache_size=64 << 20,
        )
    except plyvel.CorruptionError as exc:
        raise StorageError(
            f"LevelDB in {dbdir} is corrupt ({exc}): restore it from a backup, or move it "
            f"away to start empty as a new incarnation"
        ) from None
    except plyvel.IOError as exc:
        raise StorageError(f"cannot open LevelDB in {dbdir}: {exc}") from None


class GuardedDB:
    """A ``plyvel.DB`` whose writes go through ``put``, ``delete``, ``write_batch`` and
    ``compact_range`` here; reads are the DB's own methods (no extra call per read)."""

    def __init__(self, db: plyvel.DB) -> None:
        self.raw = db
        self.torn = ""  # why the last write failed; "" while every write has succeeded
        self.get = db.get
        self.iterator = db.iterator
        self.snapshot = db.snapshot
        self.get_property = db.get_property

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def close(self) -> None:
        self.raw.close()

    def _check(self) -> None:
        if self.torn:
            raise StorageError(
                f"an earlier LevelDB write failed ({self.torn}), which can tear its log: "
                f"no write is tried until LevelDB is reopened, which the node does once "
                f"the disk has room"
            )

    def _failed(self, exc: BaseException) -> None:
        self.torn = str(exc) or type(exc).__name__

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        self._check()
        try:
            self.raw.put(key, value, sync=sync)
        except Exception as exc:
            self._failed(exc)
            raise

    def delete(self, key: bytes, sync: bool = False) -> None:
        self._check()
        try:
            self.raw.delete(key, sync=sync)
        except Exception as exc:
            self._failed(exc)
            raise

    @contextmanager
    def write_batch(self, transaction: bool = True, sync: bool = False) -> Iterator[Any]:
        """A batch written when the block ends; an exception in the block writes nothing
        (as plyvel's ``transaction=True``, which every caller here wants)."""
        self._check()
        batch = self.raw.write_batch(sync=sync)
        yield batch
        try:
            batch.write()
        except Exception as exc:
            self._failed(exc)
            raise

    def compact_range(self, start: bytes | None = None, stop: bytes | None = None) -> None:
        """LevelDB reports no error from a compaction; one that fails (a full disk) makes
        it fail every later write, so none is started on a torn handle."""
        self._check()
        self.raw.compact_range(start=start, stop=stop)
