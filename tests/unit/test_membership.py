"""Pure membership decisions: a node's peer-set diff and checks; the cluster's reshaping plans."""

from __future__ import annotations

import pytest

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
