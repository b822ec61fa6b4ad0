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
