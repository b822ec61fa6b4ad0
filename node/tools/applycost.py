"""What applying one replicated entry costs, stage by stage, in one process.

A replica's share of every replicated write, of log catch-up and of batched
throughput is the apply path: parse the batch, check it, triage it, decide
last-writer-wins (``plan_commit``), write the log record and the state record to
LevelDB, keep the entry in the recent cache. This runs each stage alone over the same
batches (``BATCH`` entries of ``value_size`` bytes over ``keys`` keys, one origin, as a
log catch-up sends them) on a real LevelDB, and the whole path as ``Store.commit``
runs it, as CPU microseconds per entry. CPU is process time: it includes LevelDB's
compaction thread, which a replica pays too.

It says which part a faster apply would have to remove (docs/performance.md): the
Python stages, or LevelDB's own work, which no change to the Python can touch.
``python -m node.tools.applycost [ENTRIES VALUE_SIZE KEYS]`` prints it as JSON; ``cluster
bench --only apply`` runs that (the cluster tool imports none of the node's insides).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from node.clock import LOGICAL_BITS
from node.pb import remesh_pb2 as pb
from node.protocol import triage
from node.protocol.apply import Head, plan_commit
from node.protocol.validate import WriteLimits, check_received, check_skew
from node.replication.recent import Recent
from node.storage.store import KEY, Store, encode_record, log_key

BATCH = 500  # entries per replicated batch, as a catch-up sends them
ORIGIN = "node-a.00000001"
LIMITS = WriteLimits(max_key_bytes=1024, max_value_bytes=1 << 20)


def batches(entries: int, value_size: int, keys: int, seed: int = 1) -> list[bytes]:
    """Serialized ServerMessage batches of one origin's log, keys drawn at random."""
    rng = random.Random(seed)
    now = int(time.time() * 1000) - 60_000
    out, seq = [], 0
    while seq < entries:
        msg = pb.ServerMessage()
        for _ in range(min(BATCH, entries - seq)):
            seq += 1
            msg.batch.entries.add(
                origin=ORIGIN,
                seq=seq,
                hlc=((now + seq // 100) << LOGICAL_BITS) | seq % 100,
                op=pb.PUT,
                key=b"k%09d" % rng.randrange(keys),
                value=rng.randbytes(value_size),
            )
        out.append(msg.SerializeToString())
    return out


def _per_entry(run: Callable[[list[pb.Entry]], object], parsed: list[list[pb.Entry]]) -> float:
    started = time.process_time()
    for entries in parsed:
        run(entries)
    return (time.process_time() - started) / sum(map(len, parsed)) * 1e6


class LevelDBOnly:
    """The two records per entry that ``Store.commit`` writes, encoded before the clock
    starts: what LevelDB alone costs (the put calls, the write, its compactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.spent = 0.0

    def __call__(self, entries: list[pb.Entry]) -> None:
        records = [
            (
                log_key(e.origin, e.seq),
                e.SerializeToString(),
                KEY + e.key,
                encode_record(e.hlc, e.origin, e.op, e.seq, 1, e.value),
            )
            for e in entries
        ]
        started = time.process_time()
        with self.store.db.write_batch() as batch:
            for lkey, lvalue, skey, svalue in records:
                batch.put(lkey, lvalue)
                batch.put(skey, svalue)
        self.spent += time.process_time() - started


def apply_cost(entries: int = 200_000, value_size: int = 100, keys: int = 100_000) -> dict:
    """CPU microseconds per entry of each apply stage, and of the whole path."""
    raw = batches(entries, value_size, keys)
    started = time.process_time()
    parsed = [list(pb.ServerMessage.FromString(r).batch.entries) for r in raw]
    stages = {"parse": (time.process_time() - started) / entries * 1e6}
    wall = int(time.time() * 1000)

    def check(es: list[pb.Entry]) -> None:
        check_received(es, LIMITS, "node-c.1", "node-a", BATCH, ({}, {}))
        check_skew(es, wall, 60_000, "node-a")

    stages["check"] = _per_entry(check, parsed)
    stages["triage"] = _per_entry(lambda es: triage({}, es), parsed)
    heads: dict[bytes, Head] = {}
    stages["plan_commit"] = _per_entry(lambda es: plan_commit(es, heads.get, 0, 0, 0), parsed)
    stages["recent_cache"] = _per_entry(Recent().add, parsed)
    with tempfile.TemporaryDirectory(prefix="remesh-bench-apply-") as home:
        store = Store(Path(home) / "a")
        only = LevelDBOnly(store)
        _per_entry(only, parsed)
        stages["leveldb_write"] = only.spent / entries * 1e6
        store.close()
        store = Store(Path(home) / "b")
        stages["store_commit"] = _per_entry(store.commit, parsed)  # plan + encode + LevelDB
        get = store.db.get
        stages["state_lookup"] = _per_entry(lambda es: [get(KEY + e.key) for e in es], parsed)
        store.close()
    path = ("parse", "check", "triage", "store_commit", "recent_cache")
    return {
        "entries": entries,
        "value_size": value_size,
        "keys": keys,
        "us_per_entry": {k: round(v, 2) for k, v in stages.items()},
        "path_us_per_entry": round(sum(stages[k] for k in path), 2),
        "leveldb_share": round(stages["leveldb_write"] / sum(stages[k] for k in path), 2),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    print(json.dumps(apply_cost(*args)))
