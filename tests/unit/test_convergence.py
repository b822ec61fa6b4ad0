"""What `converge` calls converged: the comparison of node snapshots, pure."""

import pytest

from cluster.convergence import converged

pytestmark = pytest.mark.unit


def test_converged_needs_equal_digests_and_equal_version_vectors():
    a = {"node": "node-a", "digest": "d1", "vv": {"node-a": 3}, "keys": 1}
    assert converged([a, {**a, "node": "node-b"}])
    # Same winning versions, but node-b still lacks an entry that lost: not converged.
    assert not converged([a, {**a, "node": "node-b", "vv": {"node-a": 2}}])
    assert not converged([a, {**a, "node": "node-b", "vv": {"node-a": 3, "node-c": 1}}])
    assert not converged([a, {**a, "node": "node-b", "digest": "d2"}])
    assert not converged([a, {"node": "node-b", "error": "unreachable"}])
    assert not converged([])


def test_up_to_date_is_never_said_while_digests_or_chains_differ():
    """Issue 25 item 8: two nodes with the forged content's digest out-voted the one
    holding the origin's, and were called "up to date" though digests differed; a node
    ahead of the others was said to have "same vv, other digest"."""
    from cluster.convergence import describe_difference

    a = {"node": "node-a", "digest": "d1", "vv": {"o": 3}, "keys": 1}
    b, c = {**a, "node": "node-b"}, {**a, "node": "node-c", "digest": "d2"}
    said = describe_difference([a, b, c])
    assert "up to date" not in said, said
    assert said.count("same vv as") == 3, said  # node-c differs from both, each from node-c
    ahead = {**a, "vv": {"o": 4}, "digest": "d9"}
    said = describe_difference([ahead, b, {**b, "node": "node-c"}])
    assert "same vv" not in said and "up to date" not in said, said
    assert "node-a: digest d9 keys 1 holds every entry seen" in said, said
    forked = {**b, "forks": ["fork of o at seq 2 with node-a: ..."]}
    said = describe_difference([a, forked])
    assert "up to date" not in said and "fork of o" in said, said
    assert describe_difference([a, b]).count("up to date") == 2  # converged: it is
