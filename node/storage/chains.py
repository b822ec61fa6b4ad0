"""The per-origin chains a store keeps (node/protocol/chain.py), on disk and in memory.

``Store.commit`` extends them as it writes the log: the value at the log's top goes in
``mchain/<origin>`` in the same WriteBatch, and one every ``MARK_EVERY`` seqs under
``c<origin>\\0<seq>``. The value at any held seq is the mark below it extended over the
log between; where the log is truncated only the marks are known. A snapshot sets the
value where it puts the log's start (``set_base``). A data directory from before
chains gets them computed from its log at the first start; one whose log is already
truncated (or a snapshot sender that sent none) leaves that origin unknown: never
compared, never reported (docs/integrity.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from node.pb import remesh_pb2 as pb
from node.protocol.chain import extend, genesis
from node.storage.store import CHAIN, CHAIN_HEAD, MARK_EVERY, META, SEP, U64, Store

log = logging.getLogger("node.storage.chains")

ReadLog = Callable[[str, int, int], list[pb.Entry]]
PAGE = 4096  # log entries read at once when a chain is computed from the log


def mark_key(origin: str, seq: int) -> bytes:
    return CHAIN + origin.encode() + SEP + U64.pack(seq)


def head_key(origin: str) -> bytes:
    return META + CHAIN_HEAD + origin.encode()


def recover_chains(store: Store) -> None:
    """Each origin's chain at the recovered vv, from its head record (written with the
    log) or, for a log from before chains, computed from the log's start once."""
    for origin, top in store.vv.items():
        raw = store.db.get(head_key(origin))
        if raw is not None:
            seq, chain = U64.unpack_from(raw)[0], raw[8:]
        elif not store.truncated.get(origin):
            seq, chain = 0, genesis(origin)
        else:
            store.chains[origin] = None
            continue
        if seq < top:
            got = _forward(store, origin, seq, chain, top)
            if seq == 0 and got is not None:
                log.info("computed the chain of %s over its %d log entries", origin, top)
            store.chains[origin] = got
        else:
            store.chains[origin] = chain if seq == top else None


def _forward(store: Store, origin: str, seq: int, chain: bytes, top: int) -> bytes | None:
    """Extend ``chain`` from ``seq`` to ``top`` over the log, storing the marks and the
    head on the way; None when the log lacks an entry."""
    marks: list[tuple[int, bytes]] = []
    while seq < top:
        last = min(top, seq + PAGE)
        entries = store.read_log(origin, seq + 1, last)
        if len(entries) != last - seq:
            return None
        for e in entries:
            chain = extend(chain, [e.SerializeToString()])
            if not e.seq % MARK_EVERY:
                marks.append((e.seq, chain))
        seq = last
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for at, value in marks:
            batch.put(mark_key(origin, at), value)
        batch.put(head_key(origin), U64.pack(top) + chain)
    return chain


def chain_at(store: Store, origin: str, seq: int, read: ReadLog | None = None) -> bytes | None:
    """This node's chain value of ``origin`` at ``seq``, or None when it cannot know it
    (not held, truncated, unknown)."""
    top = store.vv.get(origin, 0)
    if seq > top:
        return None
    if seq == 0:
        return genesis(origin)
    if seq == top:
        return store.chains.get(origin)
    start = CHAIN + origin.encode() + SEP
    with store.db.iterator(start=start, stop=mark_key(origin, seq + 1), reverse=True) as it:
        found = next(it, None)
    base, chain = (0, genesis(origin)) if found is None else (
        U64.unpack_from(found[0], len(start))[0], found[1]
    )  # fmt: skip
    if base == seq:
        return chain
    entries = (read or store.read_log)(origin, base + 1, seq)
    if len(entries) != seq - base or entries[0].seq != base + 1:
        return None
    return extend(chain, [e.SerializeToString() for e in entries])


def heads(store: Store) -> dict[str, bytes]:
    """Every known chain value at the vv: what Welcome, Heartbeat and Hello carry."""
    return {o: c for o, c in store.chains.items() if c is not None}


def set_base(store: Store, moved: dict[str, int], chains: dict[str, bytes]) -> None:
    """A snapshot moved these origins' logs to start at ``moved[o]``: the sender's chain
    values there continue them (an origin it sent none for is unknown from now on)."""
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for origin, seq in moved.items():
            chain = chains.get(origin)
            store.chains[origin] = chain
            if chain is None:
                batch.delete(head_key(origin))
                continue
            batch.put(mark_key(origin, seq), chain)
            batch.put(head_key(origin), U64.pack(seq) + chain)
