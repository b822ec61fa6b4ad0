"""Give back a forked range: drop an origin's log past the seq its origin confirmed and
rebuild the state from the log that remains, so the origin's real entries are fetched
again (node/replication/integrity.py decides when; docs/integrity.md says why it is safe).

The state is every log entry's last-writer-wins merge, so with no log truncated it is
rebuilt exactly from the log: the forged versions go, the ones they beat come back. A
node whose log is truncated cannot know what a forged entry beat: ``why_not`` refuses
and the operator re-bootstraps it instead. The rebuild is marked on disk first and
redone at start when a crash cuts it off.
"""

from __future__ import annotations

import logging
from typing import Any

from node.pb import remesh_pb2 as pb
from node.protocol.apply import plan_commit
from node.storage.chains import chain_at, head_key, mark_key
from node.storage.store import KEY, META, TOMB, U64, Store, encode_record, log_key

log = logging.getLogger("node.storage.rewind")

REBUILD = b"rebuild"  # meta present while the state is being rebuilt from the log
CHUNK = 4096
CACHED = 100_000  # key heads kept in memory while rebuilding


def why_not(store: Store) -> str:
    """Why this store cannot rebuild its state from its log ("" when it can)."""
    cut = sorted(o for o, s in store.truncated.items() if s)
    if cut:
        return (
            f"its log of {', '.join(cut[:3])}{' ...' if len(cut) > 3 else ''} is truncated, "
            f"so it cannot tell what the forged entries replaced"
        )
    return ""


def rewind(store: Store, origin: str, to: int) -> int:
    """Drop ``origin``'s entries after ``to`` and rebuild the state; how many went."""
    top = store.vv.get(origin, 0)
    chain = chain_at(store, origin, to)
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for seq in range(to + 1, top + 1):
            batch.delete(log_key(origin, seq))
        with store.db.iterator(
            start=mark_key(origin, to + 1), stop=mark_key(origin, top + 1), include_value=False
        ) as it:
            for key in it:
                batch.delete(key)
        if chain is None:
            batch.delete(head_key(origin))
        else:
            batch.put(head_key(origin), U64.pack(to) + chain)
        batch.put(META + REBUILD, origin.encode())
    store.vv[origin] = to
    store.tops[origin] = store._hlc_at(origin, to)
    store.chains[origin] = chain
    rebuild_state(store)
    return top - to


def resume(store: Store) -> None:
    """At start: finish a rebuild a crash cut off."""
    if store.get_meta(REBUILD) is not None:
        log.warning("a state rebuild was cut off (crash or stop); doing it again")
        rebuild_state(store)


def rebuild_state(store: Store) -> None:
    """The state from the log alone: every state record and tombstone goes, then every
    origin's log is merged back in chunks, one WriteBatch each."""
    for prefix in (KEY, TOMB):
        while True:
            with store.db.iterator(prefix=prefix, include_value=False) as it:
                keys = [k for _, k in zip(range(CHUNK), it, strict=False)]
            if not keys:
                break
            with store.db.write_batch(transaction=True) as batch:
                for key in keys:
                    batch.delete(key)
    store._heads.clear()
    store.digest = store.keys = store.tombs = 0
    for origin, top in sorted(store.vv.items()):
        for first in range(1, top + 1, CHUNK):
            _merge(store, store.read_log(origin, first, min(top, first + CHUNK - 1)))
    with store.db.write_batch(transaction=True, sync=True) as batch:
        _put_meta(store, batch)
        batch.delete(META + REBUILD)


def _merge(store: Store, entries: list[pb.Entry]) -> None:
    plan = plan_commit(entries, store._head, store.digest, store.keys, store.hlc)
    with store.db.write_batch(transaction=True) as batch:
        for e, vhash in plan.winners:
            batch.put(KEY + e.key, encode_record(e.hlc, e.origin, e.op, e.seq, vhash, e.value))
        store.tombs = store._index_tombstones(batch, plan.old, plan.heads)
        store.digest, store.keys, store.hlc = plan.digest, plan.keys, plan.hlc
        _put_meta(store, batch)
    if len(store._heads) > CACHED:
        store._heads.clear()
    store._heads.update(plan.heads)


def _put_meta(store: Store, batch: Any) -> None:  # plyvel's WriteBatch: untyped
    batch.put(META + b"digest", store.digest.to_bytes(16, "big"))
    batch.put(META + b"keys", U64.pack(store.keys))
    batch.put(META + b"tombs", U64.pack(store.tombs))
    batch.put(META + b"hlc", U64.pack(store.hlc))
