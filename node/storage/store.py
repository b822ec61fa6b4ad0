"""LevelDB storage: the log, the key-value state and the digest, on plyvel.

Layout (one LevelDB per node):

- ``l<origin>\\0<seq:8>``: a log entry (serialized ``Entry``); gap-free per origin.
- ``k<key>``: the key's winning version: ``hlc:8 op:1 origin_len:1 origin value``.
- ``d<hlc:8><key>``: an index of the tombstones held, oldest first (tombstone GC).
- ``c<origin>\\0<seq:8>``: the origin's chain value at ``seq`` (node/protocol/chain.py),
  every ``MARK_EVERY`` seqs and where a snapshot put the log's start; ``mchain/<origin>``
  holds ``seq:8 chain:16`` at the log's top (node/storage/chains.py).
- ``m<name>``: metadata kept with the state: ``digest`` (16 bytes, live keys only),
  ``keys``, ``tombs``, ``hlc``, ``trunc/<origin>`` (``seq:8 hlc:8``: that origin's log
  is dropped up to ``seq``, whose entry had ``hlc``; see docs/compaction.md).

One ``commit`` writes the log entries, the state changes and the metadata in
one ``WriteBatch``, so a crash leaves all of a write or none of it. The version
vector is the log's own contiguous top per origin: it is derived, kept in
memory, checkpointed to watermark files and recovered by scanning the log
forward from the checkpoint (see ``recover``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.pb import remesh_pb2 as pb
from node.protocol.apply import Head, key_hash, plan_commit
from node.protocol.chain import genesis
from node.protocol.ops import LIVE
from node.protocol.packed import REC_HEAD
from node.storage.dbguard import WRITE_BUFFER, GuardedDB, StorageError, open_db

log = logging.getLogger("node.storage.store")

LOG, KEY, META, TOMB, CHAIN = b"l", b"k", b"m", b"d", b"c"
CHAIN_HEAD = b"chain/"
MARK_EVERY = 64  # a power of two: a chain value is stored every this many seqs
TRUNC = b"trunc/"
HORIZON = b"gc_horizon"
FORMAT = b"2"  # 2: live-only digest, tombstone index
LOG_END = b"m"  # first key after every log key
HEADS_CACHE = 200_000  # keys whose current version is kept in memory
SEP = b"\x00"
U64 = struct.Struct(">Q")


@dataclass(frozen=True)
class Record:
    """A key's winning version and its value (``op == DELETE`` for a tombstone)."""

    hlc: int
    origin: str
    op: int
    value: bytes
    seq: int = 0

    @property
    def version(self) -> tuple[int, str]:
        return (self.hlc, self.origin)

    @classmethod
    def decode(cls, raw: bytes) -> Record:
        hlc, op, olen = REC_HEAD.unpack_from(raw)
        origin = raw[10 : 10 + olen].decode()
        seq = U64.unpack_from(raw, 10 + olen)[0]
        return cls(hlc, origin, op, raw[34 + olen :], seq)


def encode_record(hlc: int, origin: str, op: int, seq: int, vhash: int, value: bytes) -> bytes:
    """The state record; it keeps the version's hash so replacing it needs no rehash."""
    o = origin.encode()
    return REC_HEAD.pack(hlc, op, len(o)) + o + U64.pack(seq) + vhash.to_bytes(16, "big") + value


def record_head(raw: bytes) -> Head:
    """(hlc, origin, op, hash) of a state record, without copying the value."""
    hlc, op, olen = REC_HEAD.unpack_from(raw)
    return hlc, raw[10 : 10 + olen].decode(), op, int.from_bytes(raw[18 + olen : 34 + olen], "big")


def log_key(origin: str, seq: int) -> bytes:
    return LOG + origin.encode() + SEP + U64.pack(seq)


def tomb_key(hlc: int, key: bytes) -> bytes:
    return TOMB + U64.pack(hlc) + key


def not_a_directory(path: Path) -> str:
    """What is in the way of the data directory ``path``, and what to do."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
    return (
        f"cannot use the data directory {path}: {blocker} is a file, not a directory; put "
        f"the data directory back, or move {blocker} away and the node starts empty (a new "
        "incarnation its peers bring up to date)"
    )


class Store:
    """A node's durable state. Single-threaded: the node's event loop owns it."""

    def __init__(self, path: Path, write_buffer: int = WRITE_BUFFER) -> None:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)  # every value is in here: nobody else's to read
        except (FileExistsError, NotADirectoryError):
            raise StorageError(not_a_directory(path)) from None
        except OSError as exc:
            raise StorageError(f"cannot create the data directory {path}: {exc}") from None
        self.path = path
        self._write_buffer = write_buffer
        self.diverged = False  # LevelDB holds a write reported as failed: restart
        self.db = GuardedDB(open_db(path / "leveldb", write_buffer))
        self._dbdir = str(path / "leveldb")  # a str: check_dir runs on every commit
        self._inode = os.stat(self._dbdir).st_ino
        self._heads: dict[bytes, Head] = {}  # recent keys' versions
        self.vv: dict[str, int] = {}
        self._log_prefix: dict[str, bytes] = {}
        self.truncated: dict[str, int] = {}  # per origin: log dropped up to this seq
        self.tops: dict[str, int] = {}  # per origin: the hlc of the entry at vv[origin]
        self._trunc_hlc: dict[str, int] = {}
        self.chains: dict[str, bytes | None] = {}  # per origin: its chain at vv (None: unknown)
        with self.db.iterator(prefix=META + TRUNC) as it:
            for key, raw in it:
                origin = key[len(META + TRUNC) :].decode()
                self.truncated[origin], self._trunc_hlc[origin] = struct.unpack(">QQ", raw)
        self.orphans = set(self.truncated)  # may hold entries below the point: swept once
        if self.db.get(META + b"format") != FORMAT:
            self._rebuild_state_meta()
        self.digest = int.from_bytes(self.db.get(META + b"digest", b"\0" * 16), "big")
        self.keys = U64.unpack(self.db.get(META + b"keys", U64.pack(0)))[0]
        self.tombs = U64.unpack(self.db.get(META + b"tombs", U64.pack(0)))[0]
        self.hlc = U64.unpack(self.db.get(META + b"hlc", U64.pack(0)))[0]
        # The newest tombstone collected here or by a merged snapshot's sender
        # (node/protocol/horizon.py): new entries dated at or below it are refused.
        self.horizon = U64.unpack(self.db.get(META + HORIZON, U64.pack(0)))[0]

    def _rebuild_state_meta(self) -> None:
        """A data directory from before format 2 (or a new one): the live-only digest,
        the key and tombstone counts and the tombstone index, from one scan."""
        digest = keys = tombs = 0
        with self.db.write_batch(transaction=True, sync=True) as batch:
            with self.db.iterator(prefix=KEY) as it:
                for key, raw in it:
                    hlc, origin, op, vhash = record_head(raw)
                    if op in LIVE:
                        digest ^= vhash
                        keys += 1
                    else:
                        tombs += 1
                        batch.put(tomb_key(hlc, key[1:]), b"")
            batch.put(META + b"digest", digest.to_bytes(16, "big"))
            batch.put(META + b"keys", U64.pack(keys))
            batch.put(META + b"tombs", U64.pack(tombs))
            batch.put(META + b"format", FORMAT)

    # ------------------------------------------------------------------ recovery
    def origins(self) -> list[str]:
        """Every origin with at least one log entry (one seek per origin)."""
        found: list[str] = []
        seek = LOG
        while True:
            with self.db.iterator(start=seek, stop=LOG_END, include_value=False) as it:
                key = next(it, None)
            if key is None:
                return found + sorted(set(self.truncated) - set(found))
            origin = key[1 : key.index(SEP, 1)]
            found.append(origin.decode())
            seek = LOG + origin + b"\x01"

    def recover(self, watermark: Mapping[str, int]) -> dict[str, int]:
        """Rebuild the vv: start at the watermark, scan each origin's log forward.

        A watermark that claims an entry the log does not hold is not trusted:
        that origin is rescanned from the start. Returns per origin how many
        entries the scan found beyond the watermark.
        """
        scanned: dict[str, int] = {}
        for origin in self.origins():
            floor = self.truncated.get(origin, 0)
            start = max(watermark.get(origin, 0), floor)
            if start > floor and self.db.get(log_key(origin, start)) is None:
                log.warning(
                    "watermark for %s claims seq %d the log does not hold; "
                    "rescanning that origin from the start",
                    origin,
                    start,
                )
                start = floor
            top = start
            prefix = LOG + origin.encode() + SEP
            with self.db.iterator(
                start=log_key(origin, start + 1), stop=prefix[:-1] + b"\x01", include_value=False
            ) as it:
                for key in it:
                    seq = U64.unpack_from(key, len(prefix))[0]
                    if seq != top + 1:
                        log.error("log of %s has a gap after seq %d; stopping there", origin, top)
                        break
                    top = seq
            self.vv[origin] = top
            self.tops[origin] = self._hlc_at(origin, top)
            scanned[origin] = top - start
        return scanned

    def _hlc_at(self, origin: str, seq: int) -> int:
        """The hlc of ``origin``'s entry ``seq`` (held, or the truncation point's)."""
        if seq and seq == self.truncated.get(origin):
            return self._trunc_hlc[origin]
        raw = self.db.get(log_key(origin, seq)) if seq else None
        return pb.Entry.FromString(raw).hlc if raw is not None else 0

    # -------------------------------------------------------------------- writes
    def commit(self, entries: Sequence[pb.Entry], sync: bool = False) -> list[bool]:
        """Store entries already triaged (contiguous per origin) in one WriteBatch.

        ``plan_commit`` decides which entries win their keys and how the digest
        moves; this only persists that plan. Returns, per entry, whether it won.
        """
        plan = plan_commit(entries, self._head, self.digest, self.keys, self.hlc)
        prefixes = self._log_prefix
        chains = dict(self.chains)  # kept only once the batch is written
        blake2b, mark = hashlib.blake2b, MARK_EVERY - 1
        # transaction=True: an exception part-way discards the whole batch
        with self.db.write_batch(transaction=True, sync=sync) as batch:
            put = batch.put
            for e in entries:
                origin, seq = e.origin, e.seq
                prefix = prefixes.get(origin) or self._prefix(origin)
                raw = e.SerializeToString()
                put(prefix + U64.pack(seq), raw)
                chain = chains.get(origin) if seq > 1 else genesis(origin)
                # unknown past a snapshot without one (node/storage/chains.py)
                if chain is not None:
                    chain = blake2b(chain + raw, digest_size=16).digest()
                    if not seq & mark:
                        put(CHAIN + prefix[1:] + U64.pack(seq), chain)
                chains[origin] = chain
            for origin, top in plan.vv.items():
                head = chains[origin]
                if head is not None:
                    put(META + CHAIN_HEAD + origin.encode(), U64.pack(top) + head)
            for e, vhash in plan.winners:
                put(KEY + e.key, encode_record(e.hlc, e.origin, e.op, e.seq, vhash, e.value))
            tombs = self._index_tombstones(batch, plan.old, plan.heads)
            put(META + b"digest", plan.digest.to_bytes(16, "big"))
            put(META + b"keys", U64.pack(plan.keys))
            put(META + b"tombs", U64.pack(tombs))
            put(META + b"hlc", U64.pack(plan.hlc))
        self.digest, self.keys, self.hlc, self.tombs = plan.digest, plan.keys, plan.hlc, tombs
        self.vv.update(plan.vv)
        self.tops.update(plan.tops)
        self.chains = chains
        heads = self._heads
        if len(heads) + len(plan.heads) > HEADS_CACHE:
            heads.clear()  # crude but O(1) amortised; the cache refills from hot keys
        heads.update(plan.heads)
        return plan.won

    def _index_tombstones(
        self, batch: Any, old: Mapping[bytes, Head | None], new: Mapping[bytes, Head]
    ) -> int:
        """Keep the tombstone index in step with changed heads (``old``: the keys where a
        tombstone was replaced or may have been written); the new tombstone count."""
        tombs = self.tombs
        for key, before in old.items():  # only keys where a tombstone came or went
            head = new[key]
            if before is not None:
                batch.delete(tomb_key(before[0], key))
                tombs -= 1
            if head[2] not in LIVE:
                batch.put(tomb_key(head[0], key), b"")
                tombs += 1
        return tombs

    def _head(self, key: bytes) -> Head | None:
        """A key's current winning version: from the recent-heads cache, else LevelDB."""
        head = self._heads.get(key)
        if head is None:
            raw = self.db.get(KEY + key)
            if raw is not None:
                head = record_head(raw)
        return head

    def _prefix(self, origin: str) -> bytes:
        self._log_prefix[origin] = prefix = LOG + origin.encode() + SEP
        return prefix

    @property
    def torn(self) -> str:
        """Why a write failed since LevelDB was opened ("" if none did): writes are
        refused until ``reopen`` (node/storage/dbguard.py)."""
        return self.db.torn

    def reopen(self) -> None:
        """Close LevelDB and open it again after a failed write: the replay writes the
        memtable to a table and starts a new log, so nothing acknowledged follows a
        torn record. It needs room for that table (at most the memtable's size): refused,
        with the figures, while the disk lacks it (a failed open leaves no handle to
        read from; the next call tries the open again).

        A failed sync write may have reached the log all the same, and the replay then
        brings it back: this memory (vv, digest) would give the next write the same seq.
        So the store stays torn, reads going on, until a restart recovers from the disk."""
        if self.diverged:
            raise StorageError(self.db.torn)  # reopening again cannot mend it
        if not self.db.closed:
            memtable = int(self.db.get_property(b"leveldb.approximate-memory-usage") or 0)
            need, free = memtable + (256 << 10), shutil.disk_usage(self._dbdir).free
            if free < need:
                raise StorageError(
                    f"{self.db.torn}; waiting for {need:,} bytes free in {self._dbdir} "
                    f"to reopen LevelDB ({free:,} now)"
                )
            self.db.close()
        self.db = GuardedDB(open_db(Path(self._dbdir), self._write_buffer))
        self._heads.clear()
        if not self._disk_agrees():
            self.diverged = True
            self.db.torn = (
                "a write reported as failed reached LevelDB's log after all (an fsync that "
                "failed after the write): restart the node so it recovers from the disk"
            )
            raise StorageError(self.db.torn)

    def _disk_agrees(self) -> bool:
        """Does LevelDB hold what this memory says: the meta every batch that changes
        state writes, the truncation points, and no log entry past the vv?"""
        get, zero = self.db.get, U64.pack(0)
        with self.db.iterator(prefix=META + TRUNC) as it:
            points = {k[len(META + TRUNC) :].decode(): U64.unpack_from(v)[0] for k, v in it}
        return (
            get(META + b"digest", b"\0" * 16) == self.digest.to_bytes(16, "big")
            and (get(META + b"keys", zero), get(META + b"tombs", zero), get(META + b"hlc", zero))
            == (U64.pack(self.keys), U64.pack(self.tombs), U64.pack(self.hlc))
            and get(META + HORIZON, zero) == U64.pack(self.horizon)
            and points == self.truncated
            and all(get(log_key(o, top + 1)) is None for o, top in self.vv.items())
        )

    def check_dir(self) -> None:
        """Raise StorageError when the data directory is gone or replaced while open:
        LevelDB would go on writing to deleted files and every write would be lost."""
        try:
            inode = os.stat(self._dbdir).st_ino
        except OSError:
            inode = None
        if inode != self._inode:
            raise StorageError(
                f"the data directory {self._dbdir} was removed or replaced while the node ran: "
                f"restart the node (it starts empty as a new incarnation and peers send "
                f"back what they hold)"
            )

    def compact(self, start: bytes, stop: bytes) -> None:
        """Have LevelDB compact ``start <= key < stop``: flush the memtable (its .log file
        starts afresh) and rewrite the tables overlapping the range without what was
        deleted or overwritten. Blocking, without the GIL: callers run it in a thread.

        Twice, each after deleting ``start`` (never a stored key: ranges start at a
        prefix). LevelDB compacts a range level by level into the next one, so a table
        at the deepest level is never rewritten; and the memtable flushed first, when it
        overlaps no table, is placed two levels down at once, with every record it held,
        deleted ones too. The second flush, holding only that marker inside the range,
        lands above that table and its compaction rewrites it. Found as a data directory
        that kept 450 KB of deleted log after a reclaim (tests/unit/test_reclaim.py)."""
        for _ in range(2):
            self.db.delete(start)
            self.db.compact_range(start=start, stop=stop)

    def get_meta(self, name: bytes) -> bytes | None:
        return self.db.get(META + name)

    def set_meta(self, name: bytes, value: bytes) -> None:
        """Durable at once: identity metadata must never be lost to a crash."""
        self.db.put(META + name, value, sync=True)

    def sync_barrier(self) -> None:
        """Make every earlier write durable (LevelDB fsyncs its log up to here)."""
        self.db.put(META + b"barrier", b"", sync=True)

    # --------------------------------------------------------------------- reads
    def get(self, key: bytes) -> Record | None:
        raw = self.db.get(KEY + key)
        return Record.decode(raw) if raw is not None else None

    def scan(
        self, prefix: bytes, limit: int = 0, start: bytes = b"", max_bytes: int = 0
    ) -> tuple[list[tuple[bytes, Record]], bytes]:
        """Live keys under ``prefix`` from ``start`` on, in key order (tombstones skipped):
        at most ``limit`` keys and about ``max_bytes`` of keys and values (0: no bound).
        Returns the page and the key the next page starts at (empty: no more)."""
        out: list[tuple[bytes, Record]] = []
        size = 0
        head = KEY + prefix
        with self.db.iterator(start=KEY + max(prefix, start)) as it:
            for key, raw in it:
                if not key.startswith(head):
                    break
                rec = Record.decode(raw)
                if rec.op not in LIVE:
                    continue
                if (limit and len(out) >= limit) or (max_bytes and out and size >= max_bytes):
                    return out, key[1:]
                out.append((key[1:], rec))
                size += len(key) + len(rec.value)
        return out, b""

    def read_log(self, origin: str, first: int, last: int) -> list[pb.Entry]:
        """Entries ``first..last`` of ``origin``, in seq order."""
        out = []
        with self.db.iterator(
            start=log_key(origin, first), stop=log_key(origin, last + 1), include_key=False
        ) as it:
            for raw in it:
                out.append(pb.Entry.FromString(raw))
        return out

    def recompute_digest(self) -> tuple[int, int]:
        """Digest and live key count from a full scan (tests compare with the incremental one)."""
        digest = keys = 0
        with self.db.iterator(prefix=KEY) as it:
            for key, raw in it:
                rec = Record.decode(raw)
                if rec.op in LIVE:
                    digest ^= key_hash(key[1:], rec.hlc, rec.origin, rec.op)
                    keys += 1
        return digest, keys

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()
