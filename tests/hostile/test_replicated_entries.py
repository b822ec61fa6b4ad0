"""Hostile catalogue: entries a peer (or anything on a peer's port) may send.

Each case: the batch (a good entry, then the bad one) goes to the real Replica over
LevelDB; the reason a person sees names the problem, and nothing changed: no vv,
digest, clock, state or watermark file moved.
"""

from __future__ import annotations

import itertools

import pytest

from node.clock import pack, wall_ms
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol import Held, Refused
from node.protocol.validate import RECEIVED_ENTRIES_FLOOR, check_received
from node.replica import Replica

pytestmark = pytest.mark.unit

B = "node-b@0123456789ab"
C = "node-c@0123456789cc"
DAY_MS = 86_400_000
TICKS = itertools.count()


def e(origin: str = B, seq: int = 2, key: bytes = b"k", value: bytes = b"v", **kw) -> pb.Entry:
    kw.setdefault("op", pb.PUT)
    kw.setdefault("hlc", pack(wall_ms(), next(TICKS) % 60_000))  # rising within a millisecond
    return pb.Entry(origin=origin, seq=seq, key=key, value=value, **kw)


CASES = [
    ("empty origin", e(origin=""), Refused, "bad origin ''"),
    ("path traversal origin", e(origin="/../../tmp/x"), Refused, "bad origin '/../../tmp/x'"),
    ("origin with a slash", e(origin="node-b/x"), Refused, "bad origin"),
    ("origin with NUL", e(origin="node\0b"), Refused, "bad origin"),
    ("origin of 300 bytes", e(origin="n" * 300), Refused, "bad origin"),
    ("upper-case origin", e(origin="Node-B"), Refused, "bad origin"),
    ("bad incarnation", e(origin="node-b@xyz"), Refused, "bad origin"),
    ("seq 0", e(seq=0), Refused, "seq 0 out of range"),
    ("seq past 2^63", e(seq=2**63), Refused, "out of range"),
    ("empty key", e(key=b""), Refused, "key must not be empty"),
    ("op 0", e(op=0), Refused, "unknown op 0"),
    ("op 7", e(op=7), Refused, "unknown op 7"),
    ("100 KB key", e(key=b"k" * 100_000), Refused, "key is 100000 bytes"),
    ("5 MB value", e(value=b"v" * (5 << 20)), Refused, "value is 5242880 bytes"),
    ("DELETE with a value", e(op=pb.DELETE), Refused, "a DELETE carries no value"),
    ("hlc 0", e(hlc=0), Refused, "hlc 0"),
    ("HLC at 2^64 - 1", e(hlc=2**64 - 1), Held, "clock skew"),
    # dated when the test runs, not at import (a long suite runs it minutes later)
    ("dated a day ahead", lambda: e(hlc=pack(wall_ms() + DAY_MS, 0)), Held, r"86,[34]\d\d s ahead"),
]


@pytest.fixture
def replica(tmp_path):
    r = Replica(NodeConfig(node_id="node-a", data_dir=tmp_path / "a", cluster="hostile"))
    assert r.apply_remote([e(seq=1, key=b"first")], "node-b") == 1
    yield r
    r.store.close()


def fingerprint(r: Replica) -> tuple:
    wm = sorted(p.name for p in r.watermarks.dir.iterdir())
    return dict(r.vv), r.store.digest, r.store.keys, r.clock.last, wm


@pytest.mark.parametrize(("case", "bad", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_entry_refuses_its_batch_and_changes_nothing(replica, case, bad, error, text):
    before = fingerprint(replica)
    bad = bad() if callable(bad) else bad
    good = e(seq=2, key=b"good")
    with pytest.raises(error, match=text) as err:
        replica.apply_remote([good, bad], "node-b")
    assert "node-b" in str(err.value)  # the reason names who sent it
    assert fingerprint(replica) == before
    assert replica.get(b"good") is None


def test_an_entry_under_the_receivers_own_origin_is_refused(replica):
    before = fingerprint(replica)
    with pytest.raises(Refused, match="this node's own origin"):
        replica.apply_remote([e(origin=replica.origin, seq=1)], "node-b")
    assert fingerprint(replica) == before


def test_other_content_under_an_origin_and_seq_already_held_is_refused(replica):
    before = fingerprint(replica)
    with pytest.raises(Refused, match=f"{B} seq 1 with other content"):
        replica.apply_remote([e(seq=1, key=b"first", value=b"forged"), e(seq=2)], "node-c")
    assert fingerprint(replica) == before


def test_a_new_entry_dated_at_or_below_the_gc_horizon_is_refused(replica):
    """After this node collected a tombstone dated H, an entry it never held dated at or
    below H could be a put that tombstone beat (a restored stale copy): the batch is
    refused whole, naming the sender, the entry and the horizon; nothing changes."""
    horizon = pack(wall_ms() - 60_000, 5)
    replica.store.horizon = horizon
    before = fingerprint(replica)
    old = e(origin=C, seq=1, key=b"old", hlc=horizon)  # another origin: B's clock rose past it
    with pytest.raises(Refused, match=rf"node-c sent {C} seq 1 dated .* at or before tombstones"):
        replica.apply_remote([e(seq=2, key=b"good"), old], "node-c")
    assert fingerprint(replica) == before and replica.get(b"good") is None
    assert replica.metrics.rejected["stale"] == 1
    assert replica.apply_remote([e(seq=2, key=b"good")], "node-c") == 1  # newer: taken


def test_an_origin_whose_clock_does_not_rise_with_its_seq_is_refused(replica):
    """Within the batch and past the entry held: log truncation bisects on an origin's
    HLC, so a seq dated at or before the one below it is refused, naming both."""
    held = replica.read_log(B, 1, 1)[0].hlc
    before = fingerprint(replica)
    back = [e(seq=2, hlc=held + 10), e(seq=3, key=b"back", hlc=held + 5)]
    same = [e(seq=2, hlc=held)]
    for batch, text in ((back, "seq 3 dated .*, not after seq 2"), (same, "not after seq 1")):
        with pytest.raises(Refused, match=text + ".*must rise with its seq"):
            replica.apply_remote(batch, "node-c")
        assert fingerprint(replica) == before and replica.get(b"k") is None
    assert replica.metrics.rejected["bad_entry"] == 2
    assert replica.apply_remote([e(seq=2, hlc=held + 1)], "node-c") == 1  # rising: taken


def test_a_batch_past_the_received_entry_bound_is_refused_whole(replica):
    """One batch of 300,000 entries stalled a node's loop for seconds: a received batch
    holds at most max(max_batch_entries, RECEIVED_ENTRIES_FLOOR) entries."""
    before = fingerprint(replica)
    now = pack(wall_ms() + 1, 0)  # after the held entry
    n = RECEIVED_ENTRIES_FLOOR + 1
    batch = [e(seq=2 + i, key=b"k%d" % i, hlc=now + i) for i in range(n)]
    with pytest.raises(Refused, match=f"node-c sent a batch of {n} entries; .* at most") as err:
        replica.apply_remote(batch, "node-c")
    assert err.value.kind == "exhausted"
    assert fingerprint(replica) == before
    assert replica.metrics.rejected["too_large"] == 1
    held = (replica.store.vv, replica.store.tops)
    check_received(batch[:-1], replica.limits, replica.origin, "node-c", 1000, held)  # the bound
    assert replica.apply_remote(batch[:100], "node-c") == 100
