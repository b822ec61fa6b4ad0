"""Bounded disk on real clusters: log truncation and tombstone GC keep the log and the
state bounded under overwrites; a node added after truncation, and a node down past
retention (killed in the middle of its snapshot, too), bootstrap by snapshot and
converge. Counts come from ``status``; nothing waits on a timing."""

from __future__ import annotations

import json
import shutil

import grpc
import pytest

from cluster.errors import NodeRefused
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture
from tests.integration.watching import until_delivered

pytestmark = pytest.mark.integration

RETAIN = 40
TOPOLOGY = f"""\
name: gc3
nodes: [node-a, node-b, node-c]
settings:
  retain_entries: {RETAIN}
  retain_ms: 0
  tombstone_grace_ms: 0
  compact_every_ms: 100
  pin_timeout_ms: 1500
"""
NODES = ["node-a", "node-b", "node-c"]
KEYS = 100


def gc3(clean_cluster, tmp_path, **settings: int):
    path = tmp_path / "gc3.yaml"
    path.write_text(TOPOLOGY + "".join(f"  {k}: {v}\n" for k, v in settings.items()))
    return clean_cluster(str(path))


def overwrite(c, rounds: int, nodes=NODES) -> None:
    """Every node overwrites the same KEYS keys ``rounds`` times; half of them end deleted."""
    for r in range(rounds):
        for n in nodes:
            c.write_batch(n, [(b"k%03d" % i, b"%s-%d" % (n.encode(), r)) for i in range(KEYS)])
    c.write_batch(nodes[0], [(b"k%03d" % i, None) for i in range(0, KEYS, 2)])


def bounded(c, nodes=NODES, tombstones: int = 0) -> bool:
    """Every node holds at most RETAIN log entries per origin and ``tombstones``."""
    for n in nodes:
        st = c.node_status(n)
        if st.log_held > RETAIN * len(st.vv) or st.tombstones > tombstones:
            return False
    return True


def test_overwrites_on_mesh3_keep_log_and_state_bounded(clean_cluster, tmp_path):
    c = gc3(clean_cluster, tmp_path)
    overwrite(c, 20)  # 6,000 puts and 50 deletes
    c.write("node-b", b"after", b"1")  # a write after the deletes lets the newest go too
    c.converge(60)
    wait_for(lambda: bounded(c), 60, "log and tombstones to be truncated and collected")
    for n in NODES:
        st = c.node_status(n)
        assert st.log_entries == 3 * KEYS * 20 + KEYS // 2 + 1, n
        assert st.keys == KEYS // 2 + 1 and st.tombstones == 0, n
        assert sum(st.truncated.values()) >= st.log_entries - RETAIN * 3, n
        for i in range(KEYS):
            assert (c.read(n, b"k%03d" % i) is None) == (i % 2 == 0), (n, i)
    c.converge(10)
    # LevelDB gives back what was deleted: its .log alone held every write (about 1 MB)
    # until the compactor's reclaim compacted the truncated ranges (memtable flushed)
    wait_for(
        lambda: max(disk(c).values()) < DISK_BOUND,
        60,
        lambda: f"each data directory below {DISK_BOUND} bytes (now {disk(c)})",
    )


DISK_BOUND = 300_000


def disk(c) -> dict[str, int]:
    return {
        n: sum(p.stat().st_size for p in (c.dir / "nodes" / n / "data").rglob("*") if p.is_file())
        for n in NODES
    }


def snapshots_received(c, node: str) -> int:
    return c.node_status(node).snapshots_received


def test_node_added_after_truncation_bootstraps_by_snapshot(clean_cluster, tmp_path):
    c = gc3(clean_cluster, tmp_path)
    overwrite(c, 5)
    c.converge(60)
    wait_for(lambda: bounded(c, tombstones=KEYS), 60, "the logs to be truncated")
    c.add("node-d")
    c.converge(60)
    assert snapshots_received(c, "node-d") >= 1
    for i in range(KEYS):
        assert (c.read("node-d", b"k%03d" % i) is None) == (i % 2 == 0), i
    c.write("node-d", b"from-d", b"1")  # it replicates like any member afterwards
    c.converge(60)
    assert c.read("node-a", b"from-d") == b"1"


def test_node_down_past_retention_killed_mid_snapshot_restarts_and_converges(
    clean_cluster, tmp_path
):
    """node-c stops; the others truncate past it once it stops pinning; it comes back,
    is killed while the (throttled) snapshot is being merged, and completes on restart."""
    c = gc3(clean_cluster, tmp_path, snapshot_rate_keys=200, snapshot_chunk_keys=50)
    c.stop("node-c")
    for r in range(4):
        c.write_batch("node-a", [(b"big%05d" % i, b"%d" % r) for i in range(1000)])
    c.write_batch("node-b", [(b"big%05d" % i, None) for i in range(0, 1000, 10)])

    def truncated_past_c() -> bool:
        return all(
            c.node_status(n).truncated.get(c.node_status("node-a").replica_id, 0) > 1000
            for n in ("node-a", "node-b")
        )

    wait_for(truncated_past_c, 60, "node-a and node-b to truncate past node-c (pin expired)")
    c.start("node-c", wait=False)

    def receiving() -> bool:
        try:
            note = c.node_status("node-c").snapshot
        except Exception:  # noqa: BLE001 - still starting
            return False
        return note.startswith("receiving") and not note.split(": ")[1].startswith("0/")

    wait_for(receiving, 60, "node-c to be in the middle of a snapshot")
    c.kill("node-c")
    c.start("node-c")
    c.converge(120)
    assert snapshots_received(c, "node-c") >= 1
    assert "was cut off" in c.tail("node-c", 400)
    assert c.read("node-c", b"big00000") is None and c.read("node-c", b"big00001") == b"3"


def test_status_names_a_down_member_that_holds_truncation_back(cli, tmp_path):  # noqa: F811
    """With the default pin timeout a stopped member holds the others' logs; `status`
    says who, at what seq and since when, in the table's notes and in --json."""
    path = tmp_path / "pin3.yaml"
    path.write_text(
        "name: pin3\nnodes: [node-a, node-b, node-c]\n"
        "settings: {retain_entries: 2, retain_ms: 0, compact_every_ms: 100}\n"
    )
    cli("up", str(path))
    try:
        cli("stop", "node-c")
        for i in range(8):
            cli("write", "node-a", f"k{i}", "v")

        def pinned() -> dict | None:
            nodes = json.loads(out(cli("status", "--json")))["nodes"]
            a = next(n for n in nodes if n["name"] == "node-a")
            return next((p for p in a["pins"] if p["peer"] == "node-c"), None)

        wait_for(pinned, 30, "node-a to report node-c holding its truncation back")
        pin = pinned()
        assert pin is not None and not pin["open"] and pin["origin"].startswith("node-a@")
        table = out(cli("status"))
        assert "truncation: node-a holds node-a@" in table and "for node-c (down" in table
        nodes = json.loads(out(cli("status", "--json")))["nodes"]
        a = next(n for n in nodes if n["name"] == "node-a")
        assert a["log_entries"] == 8 and a["log_held"] > 2 and a["tombstones"] == 0
    finally:
        cli("down")


def test_a_backup_older_than_a_collected_tombstone_is_refused_on_restore(clean_cluster, tmp_path):
    """node-a writes a put nobody receives, a copy of its data directory is kept, its
    disk is lost; the cluster deletes the key and collects the tombstone. node-a brought
    back over the copy would make the put live again: it finds out from its peers'
    horizons, serves nothing, takes no writes and says why; the key stays deleted."""
    c = gc3(clean_cluster, tmp_path)
    data = c.dir / "nodes" / "node-a" / "data"
    c.stop("node-b")
    c.stop("node-c")
    c.write("node-a", b"k", b"only-in-the-backup")
    c.stop("node-a")
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)
    shutil.rmtree(data)  # the disk is lost
    for n in NODES:
        c.start(n)
    c.write("node-b", b"k", b"current")
    c.converge(60)
    c.delete("node-b", b"k")
    c.write("node-c", b"after", b"1")  # a write after the delete lets its tombstone go
    c.converge(60)
    wait_for(
        lambda: all(c.node_status(n).gc_horizon for n in NODES),
        60,
        lambda: "every node to collect the tombstone of k: "
        + str({n: (st.tombstones, st.gc_floor, st.gc_horizon, st.state) for n in NODES
               for st in [c.node_status(n)]}),
    )

    c.stop("node-a")
    shutil.rmtree(data)
    shutil.copytree(backup, data)  # restored from the copy
    c.start("node-a", wait=False)
    wait_for(
        lambda: c.node_status("node-a").state == "stale",
        60,
        lambda: f"node-a to find its data stale (log: {c.tail('node-a', 20)})",
    )
    st = c.node_status("node-a")
    assert "never received" in st.state_reason and "Move the data directory" in st.state_reason
    assert "stale data" in c.tail("node-a", 200)
    with pytest.raises(NodeRefused, match="stale data"):
        c.write("node-a", b"new", b"1")
    c.write("node-b", b"later", b"1")  # the links carry on; node-a's put does not come
    wait_for(lambda: c.read("node-a", b"later") == b"1", 60, "node-a to receive later writes")
    for n in ("node-b", "node-c"):
        assert c.read(n, b"k") is None, n
        assert "at or before tombstones" not in c.tail(n, 400), n  # never sent: held at the source
    # the remedy the message names: an emptied data directory bootstraps and converges
    c.stop("node-a")
    c.log_path("node-a").write_text("")  # its one ERROR, asserted above (teardown checks)
    shutil.rmtree(data)
    c.start("node-a")
    c.converge(60)
    assert c.read("node-a", b"k") is None and c.read("node-a", b"later") == b"1"


@pytest.mark.parametrize("ratio", [None, 0])
def test_a_node_far_behind_is_sent_the_state_unless_the_ratio_is_0(clean_cluster, tmp_path, ratio):
    """Nothing is truncated (default retention), but node-c missed 15 overwrites of 1,000
    keys: 15,100 entries against 1,000 records. With the default ``snapshot_lag_ratio``
    (2) a peer sends it the state (each key once), with 0 the log; either way it
    converges to the same data, deletes included, and its own write made before it
    stopped survives."""
    path = tmp_path / "lag3.yaml"
    setting = "" if ratio is None else f"settings: {{snapshot_lag_ratio: {ratio}}}\n"
    path.write_text("name: lag3\nnodes: [node-a, node-b, node-c]\n" + setting)
    c = clean_cluster(str(path))
    c.write("node-c", b"from-c", b"1")
    c.converge(60)
    c.stop("node-c")
    for r in range(15):
        c.write_batch("node-a", [(b"k%04d" % i, b"%d" % r) for i in range(1000)])
    c.write_batch("node-b", [(b"k%04d" % i, None) for i in range(0, 1000, 10)])
    c.start("node-c")
    c.converge(120)
    st = c.node_status("node-c")
    a_origin = c.node_status("node-a").replica_id
    if ratio is None:
        assert st.snapshots_received >= 1
        assert st.entries_received < 15_000, "it was sent the log as well"
        assert st.truncated.get(a_origin, 0) >= 15_000  # its log starts at the snapshot
        said = c.tail("node-a", 200) + c.tail("node-b", 200)
        assert "log entries, more than 2 x the" in said, said[-2000:]
    else:
        assert st.snapshots_received == 0
        assert st.entries_received >= 15_100
    for i in range(0, 1000, 7):
        assert c.read("node-c", b"k%04d" % i) == (None if i % 10 == 0 else b"14"), i
    assert c.read("node-c", b"from-c") == b"1"
    c.write("node-c", b"after", b"2")  # and it replicates as before
    c.converge(60)
    assert c.read("node-a", b"after") == b"2"


def test_a_watch_on_a_node_that_merges_a_snapshot_ends_saying_so(clean_cluster, tmp_path):
    """A Watch gets an event per applied entry; a snapshot's records change the state
    without one. So a Watch open when node-c starts merging one ends with ABORTED naming
    the snapshot, a Watch opened while it merges is refused with UNAVAILABLE, and one
    opened afterwards gets events again: no client takes its events for every change."""
    path = tmp_path / "watch3.yaml"
    path.write_text(
        "name: watch3\nnodes: [node-a, node-b, node-c]\n"
        "settings: {snapshot_rate_keys: 400, snapshot_chunk_keys: 100}\n"
    )
    c = clean_cluster(str(path))
    watching = c.connect("node-c")
    call = watching.kv.Watch(pb.WatchRequest(prefix=b"k"), timeout=60)
    first = until_delivered(
        lambda: next(call), lambda i: c.write("node-c", b"kprobe%d" % i, b"1"), "the Watch"
    )
    assert first.changes[0].entry.key.startswith(b"kprobe")  # the stream is registered
    c.isolate("node-c")
    for r in range(15):  # 15,000 entries over 1,000 keys: node-c will be sent the state
        c.write_batch("node-a", [(b"k%04d" % i, b"%d" % r) for i in range(1000)])
    c.heal()

    def merging() -> bool:
        return c.node_status("node-c").snapshot.startswith("receiving")

    wait_for(merging, 60, "node-c to be merging a snapshot")
    with pytest.raises(grpc.RpcError) as refused:
        next(c.connect("node-c").kv.Watch(pb.WatchRequest(prefix=b"k"), timeout=30))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    assert "snapshot from node-" in refused.value.details()
    with pytest.raises(grpc.RpcError) as ended:
        for _ in call:  # whatever was queued before the snapshot, then the end
            pass
    assert ended.value.code() == grpc.StatusCode.ABORTED, ended.value
    assert "merging a snapshot from node-" in ended.value.details()
    c.converge(120)
    assert c.node_status("node-c").snapshots_received >= 1

    def watch_again() -> pb.Changes:
        """A second peer whose Hello crossed the first snapshot's end may still send a
        (redundant) one after convergence, refusing or ending this Watch: watch again,
        as the message says (1 run in 20 of this file under -n 2)."""
        again = c.connect("node-c").kv.Watch(pb.WatchRequest(prefix=b"k"), timeout=30)
        try:
            return until_delivered(
                lambda: next(again), lambda i: c.write("node-a", b"kafter%d" % i, b"2"), "it"
            )
        finally:
            again.cancel()

    got = wait_for(watch_again, 120, "a Watch opened after the snapshot to get node-a's writes")
    assert got.changes[0].entry.key.startswith(b"kafter")  # replicated from node-a
