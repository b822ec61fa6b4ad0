"""Store operations that keep disk bounded: log truncation, tombstone collection, and a
snapshot taken or merged. Each works in bounded chunks (one WriteBatch each) so the
event loop never stalls on them; the decisions (how far, which) come from
``node.protocol.compaction``.

Merging a snapshot needs no staging area: each chunk is a last-writer-wins merge of
versions that exist, plus the removal of records the snapshot *covers* (their seq is
within its vv) but no longer holds (a tombstone collected there beat them). Both are
safe to interrupt at any point. Only ``finish_snapshot`` advances the vv, atomically
and synced, so a snapshot cut off by a crash is never taken for complete: the node
still stands where it stood and asks again.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeAlias

from node.pb import remesh_pb2 as pb
from node.protocol.apply import plan_commit
from node.protocol.ops import LIVE
from node.protocol.packed import PACK_HEAD, Unpacked
from node.storage.store import (
    HORIZON,
    KEY,
    LOG,
    META,
    SEP,
    TOMB,
    TRUNC,
    U64,
    Record,
    Store,
    encode_record,
    log_key,
    tomb_key,
)

SNAPSHOT_META = b"snapshot"  # present while a snapshot is being merged: who sends it
# (origin, seq, hlc) of a held record a snapshot chunk omits -> may it go? (node.protocol.vouch)
Drops: TypeAlias = Callable[[str, int, int], bool]


def truncate_log(store: Store, origin: str, upto: int, limit: int) -> int:
    """Drop ``origin``'s log entries up to ``upto``, at most ``limit`` of them in this call,
    oldest first; the point recorded moves with each chunk (in the same WriteBatch), so
    the next chunk seeks past what is gone instead of stepping over LevelDB's deletion
    markers. Entries left below the point by a snapshot are swept first. Returns how
    many entries were deleted."""
    deleted = 0
    done = store.truncated.get(origin, 0)
    if origin in store.orphans:
        deleted = _sweep(store, origin, done, limit)
        if deleted >= limit:
            return deleted
        store.orphans.discard(origin)
    upto = min(upto, store.vv.get(origin, 0))
    if upto <= done:
        return deleted
    last, raw = done, b""
    prefix_len = len(LOG + origin.encode() + SEP)
    with store.db.write_batch(transaction=True) as batch:
        with store.db.iterator(
            start=log_key(origin, done + 1), stop=log_key(origin, upto + 1)
        ) as it:
            for key, value in it:
                batch.delete(key)
                last, raw = U64.unpack_from(key, prefix_len)[0], value
                deleted += 1
                if deleted >= limit:
                    break
        if last > done:
            hlc = pb.Entry.FromString(raw).hlc
            batch.put(META + TRUNC + origin.encode(), struct.pack(">QQ", last, hlc))
    if last > done:
        store.truncated[origin], store._trunc_hlc[origin] = last, hlc
    return deleted


def _sweep(store: Store, origin: str, done: int, limit: int) -> int:
    """Delete entries left at or below the truncation point (a snapshot moved it past
    them, or a crash came before the sweep)."""
    deleted = 0
    with store.db.write_batch(transaction=True) as batch:
        with store.db.iterator(
            start=LOG + origin.encode() + SEP, stop=log_key(origin, done + 1), include_value=False
        ) as it:
            for key in it:
                batch.delete(key)
                deleted += 1
                if deleted >= limit:
                    break
    return deleted


def log_held(store: Store) -> int:
    """Log entries on disk: what the vv names, less what was truncated."""
    return sum(top - store.truncated.get(o, 0) for o, top in store.vv.items())


def live_records(store: Store) -> int:
    """Records the node holds: state keys, tombstones (and their index), log entries."""
    return store.keys + 2 * store.tombs + log_held(store)


def reclaim_ranges(
    store: Store, origins: Sequence[str], collected: bool
) -> list[tuple[bytes, bytes]]:
    """The key ranges to compact after truncation and GC: one from the first truncated
    origin's log to the last one's truncation point, and the tombstone index and state
    if GC deleted there. One range, not one per origin: each compaction first flushes
    the memtable and rewrites every level-0 table (they overlap every range), so that
    work is done once; it also drops the state versions that overwrites left behind."""
    out = []
    if origins:
        first, last = min(origins), max(origins)
        out.append((LOG + first.encode() + SEP, log_key(last, store.truncated.get(last, 0) + 1)))
    return [*out, (TOMB, LOG)] if collected else out


def collect_tombstones(
    store: Store, below: int, may_drop: Callable[[Record], bool], limit: int
) -> tuple[int, int]:
    """Drop up to ``limit`` tombstones dated below ``below`` that ``may_drop`` allows, oldest
    first. Returns (dropped, examined). The digest covers live keys only: unchanged; the
    GC horizon moves to the newest one dropped, in the same batch."""
    dropped = examined = 0
    horizon = store.horizon
    with store.db.write_batch(transaction=True) as batch:
        with store.db.iterator(start=TOMB, stop=TOMB + U64.pack(below), include_value=False) as it:
            for ikey in it:
                if examined >= limit:
                    break
                examined += 1
                key = ikey[9:]
                raw = store.db.get(KEY + key)
                rec = Record.decode(raw) if raw is not None else None
                if rec is None or rec.op in LIVE:
                    batch.delete(ikey)  # stale index entry
                    continue
                if may_drop(rec):
                    batch.delete(ikey)
                    batch.delete(KEY + key)
                    store._heads.pop(key, None)
                    dropped += 1
                    horizon = max(horizon, rec.hlc)
        if dropped:  # a quiet round writes nothing
            batch.put(META + b"tombs", U64.pack(store.tombs - dropped))
            batch.put(META + HORIZON, U64.pack(horizon))
    store.tombs -= dropped
    store.horizon = horizon
    return dropped, examined


# ---------------------------------------------------------------------- snapshots
def snapshot_pages(
    store: Store, max_records: int, max_bytes: int, packed: bool = False
) -> tuple[dict[str, int], dict[str, int], int, Iterator[tuple[pb.SnapshotChunk, int]]]:
    """A consistent snapshot of the state: (vv, tops, records, pages). Each page is a
    chunk (its records in key order, and the key it ends before; empty: the last page)
    and how many records it holds; ``packed``: as ``node.protocol.packed`` bytes. The vv
    is taken in the same loop turn as the LevelDB snapshot, so it is the state's own."""
    snap = store.db.snapshot()
    vv, tops = dict(store.vv), dict(store.tops)
    records = store.keys + store.tombs

    def entries() -> Iterator[tuple[pb.SnapshotChunk, int]]:
        page: list[pb.Entry] = []
        size = 0
        with snap.iterator(prefix=KEY) as it:
            for key, raw in it:
                if page and (len(page) >= max_records or size >= max_bytes):
                    yield pb.SnapshotChunk(records=page, end=key[1:]), len(page)
                    page, size = [], 0
                page.append(_entry(key[1:], raw))
                size += len(key) + len(raw)
        yield pb.SnapshotChunk(records=page), len(page)

    def packs() -> Iterator[tuple[pb.SnapshotChunk, int]]:
        parts: list[bytes] = []
        count = size = 0
        head = PACK_HEAD.pack
        with snap.iterator(prefix=KEY) as it:
            for key, raw in it:
                if count and (count >= max_records or size >= max_bytes):
                    yield pb.SnapshotChunk(packed=b"".join(parts), end=key[1:]), count
                    parts, count, size = [], 0, 0
                parts += (head(len(key) - 1, len(raw)), key[1:], raw)
                count += 1
                size += len(key) + len(raw) + 7  # the header, less the "k" prefix
        yield pb.SnapshotChunk(packed=b"".join(parts)), count

    def pages() -> Iterator[tuple[pb.SnapshotChunk, int]]:
        try:
            yield from (packs() if packed else entries())
        finally:
            snap.close()

    return vv, tops, records, pages()


def merge_packed(store: Store, chunk: Unpacked, lo: bytes, hi: bytes, drops: Drops) -> None:
    """Merge one checked packed chunk. Into a key range this node holds nothing of (a
    new or wiped node) its records go as they came, in one WriteBatch with the counts
    and digest moved by what the check summed; else as ``merge_snapshot`` does."""
    with store.db.iterator(start=KEY + lo, stop=KEY + hi if hi else LOG, include_value=False) as it:
        held = next(it, None) is not None
    if held:
        entries = [_entry(key, raw) for key, raw in chunk.records]
        merge_snapshot(store, entries, lo, hi, drops)
        return
    digest, keys = store.digest ^ chunk.digest, store.keys + chunk.puts
    tombs, hlc = store.tombs + len(chunk.tombstones), max(store.hlc, chunk.max_hlc)
    with store.db.write_batch(transaction=True) as batch:
        put = batch.put
        for key, raw in chunk.records:
            put(KEY + key, raw)
        for thlc, key in chunk.tombstones:
            put(tomb_key(thlc, key), b"")
        put(META + b"digest", digest.to_bytes(16, "big"))
        put(META + b"keys", U64.pack(keys))
        put(META + b"tombs", U64.pack(tombs))
        put(META + b"hlc", U64.pack(hlc))
    store.digest, store.keys, store.tombs, store.hlc = digest, keys, tombs, hlc


def _entry(key: bytes, raw: bytes) -> pb.Entry:
    """A state record as the ``Entry`` that wrote it."""
    rec = Record.decode(raw)
    op = pb.PUT if rec.op in LIVE else pb.DELETE
    return pb.Entry(origin=rec.origin, seq=rec.seq, hlc=rec.hlc, op=op, key=key, value=rec.value)


def merge_snapshot(
    store: Store, records: Sequence[pb.Entry], lo: bytes, hi: bytes, drops: Drops
) -> None:
    """Merge one chunk covering keys ``lo <= key < hi`` (``hi`` empty: to the end): each
    record by last-writer-wins; a held record the chunk omits goes if ``drops`` says a
    since-collected tombstone beat it there (the covered rule, ``Taken.drops``)."""
    sent = {e.key for e in records}
    gone: list[bytes] = []
    held = False
    with store.db.iterator(start=KEY + lo, stop=KEY + hi if hi else LOG, include_value=True) as it:
        for key, raw in it:
            held = True
            if key[1:] in sent:
                continue
            rec = Record.decode(raw)
            if drops(rec.origin, rec.seq, rec.hlc):  # and absent: collected there
                gone.append(key[1:])
    # Nothing held in the chunk's range (a new node): every record is new, no lookups.
    head_of = store._head if held else _nothing
    plan = plan_commit(records, head_of, store.digest, store.keys, store.hlc)
    digest, keys, tombs = plan.digest, plan.keys, store.tombs
    with store.db.write_batch(transaction=True) as batch:
        for e, vhash in plan.winners:
            batch.put(KEY + e.key, encode_record(e.hlc, e.origin, e.op, e.seq, vhash, e.value))
        tombs = store._index_tombstones(batch, plan.old, plan.heads)
        for key in gone:
            old = store._head(key)
            if old is None:
                continue
            batch.delete(KEY + key)
            if old[2] in LIVE:
                digest ^= old[3]
                keys -= 1
            else:
                batch.delete(tomb_key(old[0], key))
                tombs -= 1
            store._heads.pop(key, None)
        batch.put(META + b"digest", digest.to_bytes(16, "big"))
        batch.put(META + b"keys", U64.pack(keys))
        batch.put(META + b"tombs", U64.pack(tombs))
        batch.put(META + b"hlc", U64.pack(plan.hlc))
    store.digest, store.keys, store.tombs, store.hlc = digest, keys, tombs, plan.hlc
    store._heads.update(plan.heads)


def _nothing(key: bytes) -> None:
    return None


def finish_snapshot(
    store: Store, vv: Mapping[str, int], tops: Mapping[str, int], own: str, horizon: int = 0
) -> dict[str, int]:
    """The commit point: every origin the snapshot holds further than this node's log
    jumps there (the log is treated as truncated up to it), and the sender's GC horizon
    becomes this node's if newer (the keys it omits are this node's collected ones now).
    One synced WriteBatch. Returns the origins moved and their new tops."""
    moved = {o: s for o, s in vv.items() if o != own and s > store.vv.get(o, 0)}
    horizon = max(store.horizon, horizon)
    with store.db.write_batch(transaction=True, sync=True) as batch:
        batch.put(META + HORIZON, U64.pack(horizon))
        for origin, seq in moved.items():
            batch.put(META + TRUNC + origin.encode(), struct.pack(">QQ", seq, tops.get(origin, 0)))
        batch.delete(META + SNAPSHOT_META)
    store.horizon = horizon
    for origin, seq in moved.items():
        store.truncated[origin], store._trunc_hlc[origin] = seq, tops.get(origin, 0)
        store.orphans.add(origin)
        store.vv[origin] = seq
        store.tops[origin] = tops.get(origin, 0)
    return moved
