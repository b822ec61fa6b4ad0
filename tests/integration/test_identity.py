"""Replica identity on real processes: a node that loses its disk or is restored from an
older copy keeps every acknowledged write (its own and everyone else's) and converges.

Before incarnations, both cases lost acknowledged writes silently: the restarted node
reused seqs its peers already held, they dropped its new writes as duplicates, and
``converge`` waited forever with every link up.
"""

from __future__ import annotations

import shutil

import pytest

from tests.integration.workload import assert_lww, write_load

pytestmark = pytest.mark.integration

TIMEOUT = 60


def data_dir(c, node: str):
    return c.dir / "nodes" / node / "data"


def assert_log_holds_each_write_once(c, writes: int) -> None:
    """Every node's log holds exactly the entries acknowledged, none twice."""
    for node in c.running_nodes():
        vv = dict(c.node_status(node).vv)
        assert sum(vv.values()) == writes, f"{node} holds {sum(vv.values())} entries: {vv}"


def test_a_node_whose_disk_was_wiped_rejoins_as_a_new_incarnation(clean_cluster):
    c = clean_cluster("mesh3")
    acked = write_load(c, ["node-a"], per_node=200, keys=200, delete_every=1000, seed=21)
    c.converge(TIMEOUT)
    before = c.node_status("node-a").replica_id
    c.stop("node-a")
    shutil.rmtree(data_dir(c, "node-a"))  # a replaced disk
    c.start("node-a")
    st = c.node_status("node-a")
    assert st.replica_id != before and st.replica_id.startswith("node-a@")
    assert st.state == "serving" and "new or empty data directory" in st.state_reason
    acked += write_load(c, ["node-a"], per_node=50, keys=50, delete_every=1000, seed=22)
    assert all(a.origin == st.replica_id for a in acked[200:])
    acked += write_load(c, ["node-b", "node-c"], per_node=20, keys=300, seed=23)
    c.converge(TIMEOUT)
    assert_lww(c, acked)  # old and new writes of node-a on every node, node-a included
    assert_log_holds_each_write_once(c, len(acked))
    vv = dict(c.node_status("node-b").vv)
    assert vv[before] == 200 and vv[st.replica_id] == 50


def test_a_node_restored_from_an_older_copy_switches_incarnation_and_loses_nothing(
    clean_cluster, tmp_path
):
    c = clean_cluster("mesh3")
    acked = write_load(c, ["node-a", "node-b"], per_node=100, keys=80, seed=24)
    c.converge(TIMEOUT)
    origin = c.node_status("node-a").replica_id
    c.stop("node-a")
    backup = tmp_path / "backup"
    shutil.copytree(data_dir(c, "node-a"), backup)
    c.start("node-a")
    assert c.node_status("node-a").replica_id == origin  # a plain restart keeps it
    acked += write_load(c, ["node-a"], per_node=100, keys=80, seed=25)  # seq 101..200
    c.converge(TIMEOUT)
    c.stop("node-a")
    shutil.rmtree(data_dir(c, "node-a"))
    shutil.copytree(backup, data_dir(c, "node-a"))  # back to seq 100
    c.start("node-a")
    acked += write_load(c, ["node-a"], per_node=50, keys=80, seed=26)
    st = c.node_status("node-a")
    assert st.replica_id != origin, "a restored copy must not write under its old origin"
    assert "restored from an older copy" in st.state_reason, st.state_reason
    assert all(a.origin == st.replica_id for a in acked[300:])
    c.converge(TIMEOUT)
    assert_lww(c, acked)
    assert_log_holds_each_write_once(c, len(acked))
    assert dict(c.node_status("node-a").vv)[origin] == 200  # its lost tail came back
    assert "restored from an older copy" in c.log_path("node-a").read_text()
