"""A node whose clock is wrong, on real processes (the ``skew`` fault): its entries dated
too far ahead are held by its peers with the reason in status, nothing is lost, nobody's
clock is dragged, and replication resumes by itself once the skew falls back."""

from __future__ import annotations

import pytest

from cluster.wait import wait_for
from node.clock import unpack, wall_ms

pytestmark = pytest.mark.integration

TOPOLOGY = """name: skew3
settings:
  max_clock_skew_ms: 1000
  heartbeat_ms: 100
nodes: [node-a, node-b, node-c]
"""
AHEAD_MS = 4000


def link_from(c, node: str, peer: str):
    return next(p for p in c.node_status(node).peers if p.peer == peer)


def test_entries_from_a_node_ahead_are_held_then_applied_and_no_clock_is_dragged(
    clean_cluster, tmp_path
):
    path = tmp_path / "skew3.yaml"
    path.write_text(TOPOLOGY)
    c = clean_cluster(str(path))
    c.skew("node-c", AHEAD_MS)
    wait_for(
        lambda: abs(link_from(c, "node-a", "node-c").clock_offset_ms - AHEAD_MS) < 1000,
        10,
        "node-a to measure node-c's clock about 4 s ahead",
    )
    version = c.write("node-c", b"k", b"from-the-future")
    origin = version.origin

    def held(node: str) -> bool:
        errors = [p.last_error for p in c.node_status(node).peers]
        return any("clock skew" in e and origin in e for e in errors)

    wait_for(lambda: held("node-a") and held("node-b"), 10, "node-a and node-b to hold it")
    for node in ("node-a", "node-b"):
        st = c.node_status(node)
        assert st.vv.get(origin, 0) == 0, f"{node} applied an entry dated ahead"
        assert unpack(st.hlc)[0] <= wall_ms() + 1000, f"{node}'s clock was dragged ahead"
        assert c.read(node, b"k") is None
    # Real time catches up with the entry (4 s ahead, 1 s allowed): it flows by itself.
    c.skew("node-c", 0)
    c.converge(30)
    assert c.read("node-a", b"k") == b"from-the-future"
    wait_for(
        lambda: not held("node-a") and not held("node-b"), 10, "the held links to come back"
    )
    later = c.write("node-a", b"k", b"now")  # a write after seeing it still wins
    assert (later.hlc, later.origin) > (version.hlc, version.origin)
    c.converge(30)
    assert c.read("node-c", b"k") == b"now"
    assert "clock skew" in c.log_path("node-a").read_text()


def test_skew_bad_input_is_refused(clean_cluster):
    from cluster.errors import ClusterError

    c = clean_cluster("mesh3")
    with pytest.raises(ClusterError, match="node-x"):
        c.skew("node-x", 100)
    with pytest.raises(ClusterError, match="at most"):
        c.skew("node-a", 10**13)
