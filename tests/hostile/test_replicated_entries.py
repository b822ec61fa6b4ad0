"""Hostile catalogue: entries a peer (or anything on a peer's port) may send.

Each case: the batch (a good entry, then the bad one) goes to the real Replica over
LevelDB; the reason a person sees names the problem, and nothing changed: no vv,
digest, clock, state or watermark file moved.
"""

from __future__ import annotations

import pytest

from node.clock import pack, wall_ms
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol import Held, Refused
from node.replica import Replica

pytestmark = pytest.mark.unit

B = "node-b@0123456789ab"
DAY_MS = 86_400_000


def e(origin: str = B, seq: int = 2, key: bytes = b"k", value: bytes = b"v", **kw) -> pb.Entry:
    kw.setdefault("op", pb.PUT)
    kw.setdefault("hlc", pack(wall_ms(), 0))
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
    old = e(seq=3, key=b"old", hlc=horizon)
    with pytest.raises(Refused, match=rf"node-c sent {B} seq 3 dated .* at or before tombstones"):
        replica.apply_remote([e(seq=2, key=b"good"), old], "node-c")
    assert fingerprint(replica) == before and replica.get(b"good") is None
    assert replica.metrics.rejected["stale"] == 1
    assert replica.apply_remote([e(seq=2, key=b"good")], "node-c") == 1  # newer: taken
