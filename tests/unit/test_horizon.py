"""The GC horizon's two guards (node/protocol/horizon.py), as pure decisions."""

from __future__ import annotations

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.protocol.horizon import StaleCheck, check_horizon, first_stale, lacked_below

pytestmark = pytest.mark.unit

A, B = "a@000000000001", "b@000000000002"
LOG = {(A, s): pack(100 * s, 0) for s in range(1, 6)} | {(B, 1): pack(50, 0)}


def hlc_at(origin: str, seq: int) -> int | None:
    return LOG.get((origin, seq))


def test_first_stale_is_the_first_entry_at_or_below_the_horizon():
    entries = [pb.Entry(origin=A, seq=s, hlc=LOG[(A, s)]) for s in (4, 2, 1)]
    assert first_stale(entries, 0) is None  # nothing collected: nothing is stale
    assert first_stale(entries, pack(100, 0) - 1) is None
    assert first_stale(entries, pack(200, 0)).seq == 2
    assert first_stale(entries, pack(400, 0)).seq == 4


def test_lacked_below_looks_at_the_first_entry_the_peer_lacks_of_each_origin():
    mine = {A: 5, B: 1}
    assert lacked_below(mine, {A: 5, B: 1}, pack(10**6, 0), hlc_at) is None  # lacks nothing
    assert lacked_below(mine, {A: 3, B: 1}, pack(300, 0), hlc_at) is None  # seq 4 is newer
    assert lacked_below(mine, {A: 3, B: 1}, pack(400, 0), hlc_at) == (A, 4, pack(400, 0))
    assert lacked_below(mine, {A: 5}, pack(50, 0), hlc_at) == (B, 1, pack(50, 0))
    assert lacked_below(mine, {}, 0, hlc_at) is None  # the peer collected nothing
    # an entry this node no longer holds (truncated) is left to the peer's receive guard
    assert lacked_below({A: 9}, {A: 6}, pack(10**6, 0), hlc_at) is None


def test_a_stale_check_waits_for_every_peer_and_stops_at_the_first_stale_one():
    check = StaleCheck("node-a", ["node-b", "node-c"])
    assert check.on_welcome("node-b", {A: 5}, {A: 5}, pack(10**6, 0), hlc_at) is None
    verdict = check.on_welcome("node-c", {A: 5}, {A: 2}, pack(300, 0), hlc_at)
    assert verdict is not None and verdict.stale
    assert "a@000000000001 seq 3" in verdict.reason and "node-c never received" in verdict.reason
    assert "Move the data directory away" in verdict.reason
    assert check.on_welcome("node-c", {A: 5}, {A: 5}, 0, hlc_at) is None  # settled


def test_a_stale_check_clears_once_every_peer_answered_or_on_timeout():
    check = StaleCheck("node-a", ["node-b", "node-c"])
    assert check.on_welcome("node-b", {A: 5}, {A: 4}, pack(400, 0), hlc_at) is None
    verdict = check.on_welcome("node-c", {A: 5}, {}, 0, hlc_at)
    assert verdict is not None and not verdict.stale
    late = StaleCheck("node-a", ["node-b", "node-c"])
    late.on_welcome("node-b", {A: 5}, {A: 5}, 0, hlc_at)
    verdict = late.on_timeout()
    assert verdict is not None and not verdict.stale and "node-c" in verdict.reason
    assert StaleCheck("node-a", []).verdict is not None  # no peers: nothing to ask


@pytest.mark.parametrize("ahead_ms", [60_001, 10**9])
def test_a_horizon_ahead_of_this_nodes_clock_is_refused(ahead_ms):
    """Hostile: a claimed horizon in the future would make this node refuse every entry
    written until then, or take itself for stale."""
    with pytest.raises(Refused, match="node-b claims a GC horizon .* ahead"):
        check_horizon(pack(1_000_000 + ahead_ms, 0), 1_000_000, 60_000, "node-b")
    check_horizon(pack(1_000_000 + 60_000, 0), 1_000_000, 60_000, "node-b")  # within skew
