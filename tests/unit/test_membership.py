"""Pure membership decisions: a node's peer-set diff and checks; the cluster's reshaping plans."""

from __future__ import annotations

import pytest

from cluster.errors import ClusterError
from cluster.reshape import (
    Ports,
    lacking,
    plan_ports,
    reconcile_plan,
    with_node,
    without_node,
)
from cluster.topology import parse_topology
from node.membership import diff_peers, missing, own_origins, peer_problem

pytestmark = pytest.mark.unit


def test_peer_diff_names_added_removed_changed_and_kept():
    d = diff_peers({"b": "h:1", "c": "h:2", "d": "h:3"}, {"c": "h:2", "d": "h:9", "e": "h:4"})
    assert (d.added, d.removed, d.changed, d.kept) == (["e"], ["b"], ["d"], ["c"])
    assert not d.empty
    assert diff_peers({"b": "h:1"}, {"b": "h:1"}).empty


@pytest.mark.parametrize(
    ("peers", "problem"),
    [
        ({"B": "127.0.0.1:1"}, "bad peer name 'B'"),
        ({"-x": "127.0.0.1:1"}, "bad peer name"),
        ({"a": "127.0.0.1:1"}, "is this node itself"),
        ({"b": "localhost"}, "expected host:port"),
        ({"b": "h:70000"}, "expected host:port"),
    ],
)
def test_a_bad_peer_set_is_named(peers, problem):
    assert problem in peer_problem("a", peers)


def test_a_good_peer_set_has_no_problem():
    assert peer_problem("a", {}) == ""
    assert peer_problem("a", {"b": "127.0.0.1:9702", "c_2": "[::1]:9"}) == ""


def test_own_origins_are_every_incarnation_of_the_name_and_missing_counts_them():
    vv = {"a@000000000001": 5, "a@000000000002": 3, "ab@000000000003": 7, "b@000000000004": 2}
    own = own_origins(vv, "a")
    assert own == {"a@000000000001": 5, "a@000000000002": 3}
    assert missing(own, {}) == 8
    assert missing(own, {"a@000000000001": 5, "a@000000000002": 1}) == 2
    assert missing(own, {"a@000000000001": 9, "a@000000000002": 3}) == 0


def topo(text: str):
    return parse_topology(text, "t.yaml"), text


MESH3 = "name: m\nnodes: [node-a, node-b, node-c]\n"


def test_add_follows_the_shape_or_the_given_links():
    t, text = topo(MESH3)
    _, mesh = with_node(t, text, "node-d", None)
    assert mesh.shape == "full-mesh" and mesh.peers("node-d") == ["node-a", "node-b", "node-c"]
    _, some = with_node(t, text, "node-d", ["node-b"])
    assert some.shape == "explicit" and some.peers("node-d") == ["node-b"]
    assert some.peers("node-a") == ["node-b", "node-c"]  # the mesh's own links kept
    _, ring = with_node(*topo("name: r\nlinks: ring\nnodes: [a, b, c]\n"), "d", None)
    assert ring.peers("d") == ["a", "c"] and ring.peers("a") == ["b", "d"]
    _, star = with_node(*topo("name: s\nlinks: star\nhub: b\nnodes: [a, b, c]\n"), "d", None)
    assert star.peers("d") == ["b"]


@pytest.mark.parametrize(
    ("node", "links", "problem"),
    [
        ("node-a", None, "already in cluster m"),
        ("Node-D", None, "bad node name"),
        ("node-d", ["node-x"], "unknown node(s) node-x"),
        ("node-d", [], "names no node"),
    ],
)
def test_a_bad_add_is_refused(node, links, problem):
    with pytest.raises(ClusterError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        with_node(*topo(MESH3), node, links)


def test_an_add_to_explicit_links_needs_links():
    t, text = topo("name: e\nlinks: [[a, b]]\nnodes: [a, b]\n")
    with pytest.raises(ClusterError, match="--links"):
        with_node(t, text, "c", None)
    assert with_node(t, text, "c", ["a"])[1].peers("c") == ["a"]


def test_remove_drops_the_node_and_its_links_and_refuses_what_would_break_the_cluster():
    new_text, new = without_node(*topo(MESH3), "node-b")
    assert new.names() == ["node-a", "node-c"] and new.links == [("node-a", "node-c")]
    assert "node-b" not in new_text
    with pytest.raises(ClusterError, match="the last node"):
        without_node(*topo("name: one\nnodes: [a]\n"), "a")
    with pytest.raises(ClusterError, match="no node 'x'"):
        without_node(*topo(MESH3), "x")
    with pytest.raises(ClusterError, match="would cut c off"):
        without_node(*topo("name: l\nlinks: [[a, b], [b, c]]\nnodes: [a, b, c]\n"), "b")
    with pytest.raises(ClusterError, match="hub"):
        without_node(*topo("name: s\nlinks: star\nnodes: [a, b, c]\n"), "a")


def test_ports_are_kept_for_what_stays_and_fresh_for_what_is_new():
    t, text = topo(MESH3)
    _, new = with_node(t, text, "node-d", ["node-a"])
    now = Ports(
        {"node-a": 1, "node-b": 2, "node-c": 3},
        {f"{s}>{d}": f"h:{10 + i}" for i, (s, d) in enumerate(t.directed_links())},
    )
    asked = []

    def free(n, avoid):
        asked.append((n, set(avoid)))
        return [100 + i for i in range(n)]

    p = plan_ports(new, now, "h", free)
    assert p.nodes == {"node-a": 1, "node-b": 2, "node-c": 3, "node-d": 100}
    assert {p.links["node-d>node-a"], p.links["node-a>node-d"]} == {"h:101", "h:102"}
    assert all(p.links[k] == v for k, v in now.links.items())
    assert asked == [(3, {1, 2, 3, 10, 11, 12, 13, 14, 15})]
    gone = plan_ports(without_node(t, text, "node-c")[1], now, "h", free)
    assert set(gone.nodes) == {"node-a", "node-b"} and set(gone.links) == {
        "node-a>node-b",
        "node-b>node-a",
    }


def test_reconcile_plan_names_members_and_refuses_other_changes():
    old, _ = topo(MESH3)
    plan = reconcile_plan(old, topo("name: m\nnodes: [node-a, node-c, node-d]\n")[0])
    assert plan is not None and (plan.added, plan.removed) == (["node-d"], ["node-b"])
    assert "added node-d, removed node-b" in plan.describe("m")
    assert reconcile_plan(old, topo("name: m\nlinks: ring\n" + MESH3[8:])[0]) is None
    for other in (
        "name: m\ntenant: t2\nnodes: [node-a, node-b, node-c]\n",
        "name: m\nsettings: {heartbeat_ms: 300}\nnodes: [node-a, node-b, node-c]\n",
        "name: m\nnodes: [x, y]\n",
    ):
        with pytest.raises(ClusterError, match="only nodes may be added or removed"):
            reconcile_plan(old, topo(other)[0])


def test_lacking_counts_what_each_remaining_node_misses_of_the_leaving_origins():
    own = {"b@1": 10, "b@2": 4}
    held = {"a": {"b@1": 10, "b@2": 4, "c@1": 1}, "c": {"b@1": 7}}
    assert lacking(own, held) == {"c": 7}
    assert lacking({}, held) == {}


@pytest.mark.parametrize("name", ["proxy", "remesh-proxy"])
def test_add_refuses_the_link_proxys_names(name):
    t, text = topo(MESH3)
    with pytest.raises(ClusterError, match="link proxy's name"):
        with_node(t, text, name, None)
