"""``cluster bench`` sections for bounded disk (docs/compaction.md).

- ``bootstrap``: a mesh3 with small retention holding ``bootstrap_keys`` live keys. First
  a node stopped while they are written catches up from the log (a stopped member pins
  truncation); then, once every log is truncated and the nodes' disks have settled (the
  compaction that frees the truncated log done), a new node is added and bootstraps by
  snapshot. Keys per second for each, measured in the same run, each from a quiet
  cluster.
- ``soak-disk``: ``soak_writes`` overwrites of ``soak_keys`` keys (random values, so
  LevelDB's compression cannot flatter it) on a mesh3 with small retention; bytes on
  disk per node once truncation and GC have caught up, against the live data and the
  retained log; and the peak seen while the writes went on (sampled every second).

Both bring up their own cluster (small retention is a setting of the topology).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.bench.load import load
from cluster.wait import wait_for

RETAIN = 1000
BATCH = 1000


def topology(home: str, name: str) -> Path:
    path = Path(home) / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nnodes: [node-a, node-b, node-c]\n"
        f"settings: {{retain_entries: {RETAIN}, retain_ms: 0, tombstone_grace_ms: 0,"
        " compact_every_ms: 200, snapshot_lag_ratio: 0}\n"  # the log leg stays the log
    )
    return path


def write_keys(c: Cluster, node: str, keys: int, value_size: int, threads: int = 2) -> None:
    """``keys`` distinct keys, PutBatch of BATCH, from ``threads`` threads."""
    value = os.urandom(value_size // 2 + 1).hex()[:value_size].encode()
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            for start in range(t * BATCH, keys, threads * BATCH):
                items = [(b"bs/%09d" % i, value) for i in range(start, min(keys, start + BATCH))]
                c.write_batch(node, items)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def truncated(c: Cluster, nodes: list[str], below: int) -> bool:
    """Every node's log of every origin is truncated to within ``below`` entries of its top."""
    for n in nodes:
        st = c.node_status(n)
        if any(top - st.truncated.get(o, 0) > below for o, top in st.vv.items()):
            return False
    return True


def bench_bootstrap(cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    keys = cfg.bootstrap_keys
    with tempfile.TemporaryDirectory(prefix="remesh-bench-") as home:
        c = Cluster.up(topology(home, "boot3"), home=home)
        try:
            c.stop("node-c")
            progress(f"bootstrap: writing {keys} keys while node-c is stopped")
            start = time.monotonic()
            write_keys(c, "node-a", keys, cfg.value_size)
            write_s = time.monotonic() - start
            c.converge(600)
            progress("bootstrap: node-c catches up from the log")
            start = time.monotonic()
            c.start("node-c", wait=False)
            wait_for(lambda: c.serving("node-c"), 60, "node-c to serve")
            c.converge(600)
            log_s = time.monotonic() - start  # from its start to converged
            log_snapshots = c.node_status("node-c").snapshots_received
            progress("bootstrap: waiting for every log to be truncated")
            wait_for(lambda: truncated(c, c.running_nodes(), 2 * RETAIN), 600, "truncation")
            # and for the compaction that gives the truncated log's disk back (minutes of
            # LevelDB work on each node), as the log catch-up started on a quiet cluster
            progress("bootstrap: waiting for the nodes' disk compaction to finish")
            settled({n: c.dir / "nodes" / n / "data" for n in c.running_nodes()}, timeout=600)
            progress("bootstrap: adding node-d (a snapshot)")
            start = time.monotonic()
            c.add("node-d", timeout=600)
            c.converge(600)
            snap_s = time.monotonic() - start
            st = c.node_status("node-d")
        finally:
            c.down(purge=True)
    return {
        "keys": keys,
        "value_size": cfg.value_size,
        "write_s": round(write_s, 3),
        "log_catchup_s": round(log_s, 3),
        "log_catchup_keys_per_s": round(keys / log_s),
        "log_catchup_snapshots": log_snapshots,
        "snapshot_s": round(snap_s, 3),
        "snapshot_keys_per_s": round(keys / snap_s),
        "snapshots_received": st.snapshots_received,
        "speedup": round(log_s / snap_s, 2),
    }


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def settled(
    dirs: dict[str, Path], quiet_s: float = 3.0, slack: int = 64 << 10, timeout: float = 60
) -> dict[str, int]:
    """Each data directory's size once it has moved less than ``slack`` bytes for
    ``quiet_s`` (the nodes' background truncation, GC and compaction done; an idle node
    still writes a few bytes a second: heartbeats' barriers, watermark files)."""
    base: dict[str, int] = {}
    since = [time.monotonic()]
    last: dict[str, int] = {}

    def quiet() -> bool:
        last.update({n: du(d) for n, d in dirs.items()})
        if not base or any(abs(last[n] - base[n]) > slack for n in dirs):
            base.update(last)
            since[0] = time.monotonic()
        return time.monotonic() - since[0] >= quiet_s

    wait_for(quiet, timeout, "the data directories to stop changing", 0.5, 0.5)
    return dict(last)


class PeakDisk:
    """The largest size of each node's data directory, sampled every second."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs, self.peak = dirs, dict.fromkeys(dirs, 0)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(1.0):
            for n, d in self.dirs.items():
                try:
                    self.peak[n] = max(self.peak[n], du(d))
                except OSError:  # a file went while we looked: the next sample
                    continue

    def __enter__(self) -> PeakDisk:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def bench_soak_disk(cfg: BenchConfig, progress: Callable[[str], None]) -> dict:
    with tempfile.TemporaryDirectory(prefix="remesh-bench-") as home:
        c = Cluster.up(topology(home, "soak3"), home=home)
        try:
            nodes = c.running_nodes()
            progress(f"soak-disk: {cfg.soak_writes} overwrites of {cfg.soak_keys} keys")
            soak = BenchConfig(**{**cfg.__dict__, "keys": cfg.soak_keys})
            dirs = {n: c.dir / "nodes" / n / "data" for n in nodes}
            with PeakDisk(dirs) as peak:
                acked, took = load(
                    c, nodes, cfg.clients, 3600, cfg.soak_writes, soak, "sd/", distinct=True
                )
            c.converge(600)
            wait_for(lambda: truncated(c, nodes, RETAIN), 600, "truncation")
            per_node = settled(dirs)
            st = c.node_status(nodes[0])
            live = st.keys * (len("sd/0/") + 5 + cfg.value_size)
            retained = RETAIN * len(st.vv) * (cfg.value_size + 64)
        finally:
            c.down(purge=True)
    return {
        "writes": acked,
        "write_s": round(took, 3),
        "keys": st.keys,
        "log_held": st.log_held,
        "live_bytes": live,
        "retained_log_bytes": retained,
        "disk_bytes": per_node,
        "ratio_to_live_plus_retention": round(max(per_node.values()) / (live + retained), 2),
        "peak_disk_bytes": peak.peak,
        "peak_ratio": round(max(peak.peak.values()) / (live + retained), 2),
    }
