"""Convergence scenarios on real clusters: topologies, partitions, crashes, pauses, restarts."""

from __future__ import annotations

import threading

import pytest

from cluster.api import ConvergeTimeout
from cluster.wait import wait_for
from node.storage.watermarks import Watermarks
from tests.integration.workload import assert_lww, links_down, set_links, write_load

pytestmark = pytest.mark.integration

TIMEOUT = 60


@pytest.mark.parametrize("topology", ["mesh3", "mesh5", "mesh7", "ring5", "line4", "star5"])
def test_every_node_writes_concurrently_and_all_converge(clean_cluster, topology):
    c = clean_cluster(topology)
    nodes = c.topology.names()
    acked = write_load(c, nodes, per_node=60, keys=15, seed=1)
    c.converge(TIMEOUT)
    assert_lww(c, acked)
    assert len({s["digest"] for s in c.snapshot()}) == 1


def test_two_halves_diverge_then_converge_after_heal(clean_cluster):
    c = clean_cluster("mesh5")
    left, right = ["node-a", "node-b"], ["node-c", "node-d", "node-e"]
    c.partition([left, right])
    wait_for(lambda: links_down(c, "node-a", right), 10, "node-a to see the cut")
    acked = write_load(c, c.topology.names(), per_node=80, keys=10, seed=2)
    c.write("node-a", b"left-only", b"1")
    with pytest.raises(ConvergeTimeout):
        c.converge(2)
    assert c.read("node-e", b"left-only") is None
    c.heal()
    c.converge(TIMEOUT)
    assert c.read("node-e", b"left-only") == b"1"
    assert_lww(c, acked)


def test_writes_on_streams_through_a_partition_converge_to_every_acked_version(clean_cluster):
    """Single writes pipelined on KV.Writes streams, from every node, while node-c is
    cut off: every answered write's version is what every node holds after the heal."""
    c = clean_cluster("mesh3")
    set_links(c, [("node-a", "node-c"), ("node-b", "node-c")])
    wait_for(lambda: links_down(c, "node-c", ["node-a", "node-b"]), 10, "node-c cut off")
    acked = write_load(c, c.topology.names(), per_node=300, keys=20, seed=5, batch=50, stream=True)
    bad = c.write_each("node-a", [(b"ok-1", b"1"), (b"", b"empty key"), (b"ok-2", b"2")])
    assert [bool(r.error) for r in bad] == [False, True, False]
    assert "key must not be empty" in bad[1].error
    c.heal()
    c.converge(TIMEOUT)
    assert_lww(c, acked)
    assert c.read("node-c", b"ok-2") == b"2"


def test_isolated_node_catches_up_after_heal(clean_cluster):
    c = clean_cluster("mesh5")
    c.isolate("node-c")
    wait_for(
        lambda: links_down(c, "node-c", ["node-a", "node-b", "node-d", "node-e"]),
        10,
        "node-c to see every link down (blackholed, not reset)",
    )
    acked = write_load(c, c.topology.names(), per_node=80, keys=10, seed=3)
    c.heal()
    c.converge(TIMEOUT)
    assert_lww(c, acked)


def test_bridge_partition_converges_through_the_middle_node(clean_cluster):
    """{a,b} and {d,e} cannot see each other; node-c sees both and relays."""
    c = clean_cluster("mesh5")
    c.partition([["node-a", "node-b"], ["node-d", "node-e"]])
    wait_for(lambda: links_down(c, "node-a", ["node-d", "node-e"]), 10, "the bridge cut")
    acked = write_load(c, c.topology.names(), per_node=80, keys=10, seed=4)
    c.converge(TIMEOUT)  # while still partitioned: relay through node-c
    assert_lww(c, acked)
    c.heal()
    acked += write_load(c, ["node-a", "node-e"], per_node=20, keys=10, seed=5)
    c.converge(TIMEOUT)
    assert_lww(c, acked)


def test_ring_shaped_partial_partition_converges_by_relay(clean_cluster):
    """Each node keeps two of its four links (a ring); the others are cut."""
    c = clean_cluster("mesh5")
    cut = [
        ("node-a", "node-c"),
        ("node-b", "node-d"),
        ("node-c", "node-e"),
        ("node-d", "node-a"),
        ("node-e", "node-b"),
    ]
    set_links(c, cut)
    wait_for(lambda: links_down(c, "node-a", ["node-c", "node-d"]), 10, "the partial cut")
    acked = write_load(c, c.topology.names(), per_node=80, keys=10, seed=6)
    c.converge(TIMEOUT)
    assert_lww(c, acked)
    c.heal()
    c.converge(TIMEOUT)


def test_reset_partition_is_detected_and_healed(clean_cluster):
    c = clean_cluster("mesh3")
    c.partition([["node-a"], ["node-b", "node-c"]], mode="reset")
    wait_for(lambda: links_down(c, "node-a", ["node-b", "node-c"]), 10, "reset links down")
    acked = write_load(c, c.topology.names(), per_node=50, keys=5, seed=7)
    c.heal()
    c.converge(TIMEOUT)
    assert_lww(c, acked)


def test_kill9_mid_stream_resumes_from_watermark(clean_cluster):
    c = clean_cluster("mesh3")
    stop = threading.Event()
    acked = write_load(c, ["node-a", "node-b"], per_node=500, keys=50, seed=8, batch=50)
    c.converge(TIMEOUT)
    c.wait_ready()
    # The kill must find checkpoints covering this first phase: wait on their content
    # (a checkpoint comes every watermark_every_ms), not on the files merely existing.
    st = c.node_status("node-c")
    want = {o: s for o, s in st.vv.items() if o != st.replica_id}
    wm = Watermarks(c.dir / "nodes/node-c/data")

    def covered() -> bool:
        saved = wm.load()
        return all(saved.get(o, 0) >= s for o, s in want.items())

    wait_for(covered, 20, lambda: f"node-c's watermarks {wm.load()} to cover {want}")
    results: list = []

    def stream() -> None:
        results.append(
            write_load(c, ["node-a", "node-b"], per_node=2000, keys=50, seed=9, batch=100)
        )
        stop.set()

    t = threading.Thread(target=stream)
    t.start()
    a_origin = c.node_status("node-a").replica_id
    wait_for(
        lambda: c.node_status("node-c").vv.get(a_origin, 0) > 600, 20, "node-c to be mid-stream"
    )
    c.kill("node-c")
    t.join()
    acked += results[0]
    c.start("node-c")
    st = c.node_status("node-c")
    recovered = sum(st.recovered_from.values())
    assert recovered >= 1000, f"node-c loaded watermarks covering only {recovered} entries"
    c.converge(TIMEOUT)
    st = c.node_status("node-c")
    total = sum(st.vv.values())
    # It was sent what it lacked, not everything from zero.
    assert st.entries_received + st.duplicates_received < total, (st.entries_received, total)
    assert st.entries_received <= total - recovered
    assert_lww(c, acked)


def test_writer_crash_keeps_every_acknowledged_write(clean_cluster):
    c = clean_cluster("mesh3")
    c.isolate("node-b")  # its writes cannot have left before the crash
    acked = write_load(c, ["node-b"], per_node=300, keys=300, delete_every=1000, seed=10, batch=10)
    origin = c.node_status("node-b").replica_id
    c.kill("node-b")
    c.start("node-b")
    assert c.node_status("node-b").vv[origin] == 300
    assert_lww(c, acked, nodes=["node-b"])
    c.heal()
    c.converge(TIMEOUT)
    assert_lww(c, acked)


def test_pause_long_enough_for_heartbeats_to_fail(clean_cluster):
    c = clean_cluster("mesh3")
    c.pause("node-c")
    wait_for(
        lambda: links_down(c, "node-a", ["node-c"]) and links_down(c, "node-b", ["node-c"]),
        10,
        "node-a and node-b to declare node-c dead",
    )
    acked = write_load(c, ["node-a", "node-b"], per_node=100, keys=10, seed=11)
    c.resume("node-c")
    c.converge(TIMEOUT)
    c.wait_ready()
    assert_lww(c, acked)


def test_whole_cluster_restart_keeps_data_and_watermarks(clean_cluster, tmp_path):
    c = clean_cluster("mesh3")
    acked = write_load(c, c.topology.names(), per_node=100, keys=30, seed=12)
    c.converge(TIMEOUT)
    vv = c.snapshot()[0]["vv"]
    c.down()
    c2 = clean_cluster("mesh3")
    for node in c2.topology.names():
        st = c2.node_status(node)
        assert dict(st.recovered_from) == vv, f"{node} watermarks {dict(st.recovered_from)}"
        assert dict(st.vv) == vv
    assert_lww(c2, acked)


def test_corrupt_and_missing_watermarks_warn_and_converge(clean_cluster):
    c = clean_cluster("mesh3")
    acked = write_load(c, c.topology.names(), per_node=100, keys=30, seed=13)
    c.converge(TIMEOUT)
    a, c_ = (c.node_status(n).replica_id for n in ("node-a", "node-c"))
    c.stop("node-b")
    wm = c.dir / "nodes/node-b/data/.watermarks"
    (wm / f"{a}.wm").write_text("garbage")
    (wm / f"{c_}.wm").unlink()
    acked += write_load(c, ["node-a", "node-c"], per_node=50, keys=30, seed=14)
    c.start("node-b")
    c.converge(TIMEOUT)
    assert_lww(c, acked)
    log = c.log_path("node-b").read_text()
    assert f"{a}.wm is corrupt" in log
    assert "recovered" in log  # the log scan found what the watermarks did not cover
