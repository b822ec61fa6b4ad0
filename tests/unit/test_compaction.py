"""Truncation and GC decisions as pure functions over member acks, the snapshot
receiver's checks, and the store operations that carry them out (LevelDB on a temp dir)."""

from __future__ import annotations

import pytest

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol.compaction import (
    MemberAck,
    age_cut,
    collectable,
    gc_floor,
    needs_snapshot,
    snapshot_cheaper,
    truncation_points,
)
from node.protocol.cursor import Cursor
from node.protocol.vouch import Known, judge
from node.storage.store import Store
from node.storage.trim import (
    collect_tombstones,
    finish_snapshot,
    log_held,
    merge_snapshot,
    snapshot_pages,
    truncate_log,
)

pytestmark = pytest.mark.unit

A, B, C = "a@000000000001", "b@000000000001", "c@000000000001"


def ack(vv, durable=None, clock=100, members=("a", "c"), open=True, since_s=0.0):
    durable = vv if durable is None else durable
    return MemberAck(vv, durable, clock, frozenset(members), open, since_s)


# ------------------------------------------------------------------ truncation
def test_truncation_is_the_minimum_durable_ack_less_retention_and_names_the_pin():
    members = {"b": ack({A: 90}, {A: 80}), "c": ack({A: 95})}
    t = truncation_points({A: 100}, members, retain_entries=10)[A]
    assert (t.point, t.pinned_by, t.acked) == (80, "b", 80)
    t = truncation_points({A: 100}, members, retain_entries=30)[A]
    assert t.point == 70 and t.pinned_by == "b"


def test_a_member_never_heard_from_pins_everything_and_a_down_one_pins_at_its_last_ack():
    assert truncation_points({A: 100}, {"b": None}, 0)[A].point == 0
    down = {"b": ack({A: 40}, open=False, since_s=50.0)}
    assert truncation_points({A: 100}, down, 0)[A].point == 40
    # ... until it has been silent longer than the pin timeout: then only retention holds
    assert truncation_points({A: 100}, down, 5, pin_timeout_s=10.0)[A].point == 95
    assert truncation_points({A: 100}, down, 5, pin_timeout_s=60.0)[A].point == 40


def test_no_members_truncates_to_retention_only():
    assert truncation_points({A: 100, B: 3}, {}, 10) == {
        A: truncation_points({A: 100}, {}, 10)[A],
        B: truncation_points({B: 3}, {}, 10)[B],
    }
    assert truncation_points({A: 100}, {}, 10)[A].point == 90
    assert truncation_points({B: 3}, {}, 10)[B].point == 0


def test_age_cut_keeps_entries_younger_than_the_cutoff():
    hlcs = {s: pack(1000 + 10 * s, 0) for s in range(1, 11)}
    assert age_cut(1, 10, hlcs.__getitem__, 1050) == 5
    assert age_cut(1, 10, hlcs.__getitem__, 0) == 0
    assert age_cut(4, 10, hlcs.__getitem__, 10**9) == 10


# ------------------------------------------------------------------ GC floor
def test_floor_is_the_minimum_clock_when_members_hold_nothing_this_node_lacks():
    tops = {A: 50, C: 60}
    members = {
        "b": ack({A: 5, C: 3}, clock=200, members=("a", "c")),
        "c": ack({A: 5}, clock=150, members=("a", "b")),
    }
    assert gc_floor({A: 5, C: 3}, tops, members, "a", 300) == 150


def test_floor_drops_to_the_top_of_an_origin_a_member_holds_further():
    members = {"b": ack({A: 5, C: 4}, clock=200, members=("a",))}
    assert gc_floor({A: 5, C: 3}, {A: 50, C: 60}, members, "a", 300) == 60
    members = {"b": ack({A: 5, B: 1}, clock=200, members=("a",))}
    assert gc_floor({A: 5}, {A: 50}, members, "a", 300) == 0  # an origin it has none of


@pytest.mark.parametrize(
    "member",
    [
        None,  # never acknowledged
        ack({}, open=False),  # stream closed
        ack({}, clock=0),  # no clock
        ack({}, members=("a",)),  # sees another member set: not one agreed mesh
    ],
)
def test_floor_is_zero_unless_every_member_acknowledges_on_one_agreed_mesh(member):
    others = {"c": ack({}, members=("a", "b"))}
    assert gc_floor({A: 1}, {A: 50}, {"b": member, **others}, "a", 300) == 0
    assert gc_floor({A: 1}, {A: 50}, {"b": ack({}), **others}, "a", 300) == 100


def test_a_tombstone_goes_only_below_the_floor_acked_by_all_and_past_the_grace():
    members = {"b": ack({A: 7}), "c": ack({A: 7})}
    hlc = pack(1000, 0)
    assert collectable(hlc, A, 7, hlc, members, 2000, 1000)
    assert not collectable(hlc, A, 7, hlc - 1, members, 2000, 1000)  # above the floor
    assert not collectable(hlc, A, 7, 0, members, 2000, 1000)  # no floor
    assert not collectable(hlc, A, 7, hlc, members, 1999, 1000)  # within the grace
    assert not collectable(hlc, A, 8, hlc, members, 2000, 1000)  # not acked by all
    assert not collectable(hlc, A, 7, hlc, {**members, "d": None}, 2000, 1000)


def test_a_subscriber_needs_a_snapshot_below_a_truncation_point_but_never_for_its_own_origin():
    assert needs_snapshot({A: 5}, {A: 6, B: 2}, C) == [A, B]
    assert needs_snapshot({A: 6, B: 2}, {A: 6, B: 2}, C) == []
    assert needs_snapshot({}, {C: 9}, C) == []


def test_a_subscriber_lacking_more_entries_than_the_state_holds_records_gets_the_state():
    assert snapshot_cheaper(50_000, 10_000, 1.0)
    assert not snapshot_cheaper(10_000, 10_000, 1.0)  # as many: the log, no bulk merge
    assert snapshot_cheaper(10_001, 10_000, 1.0)
    assert not snapshot_cheaper(30_000, 10_000, 3.0) and snapshot_cheaper(30_001, 10_000, 3.0)
    assert not snapshot_cheaper(9_999, 0, 1.0)  # a short tail: always the log
    assert snapshot_cheaper(10_000, 0, 1.0)  # everything was deleted and collected
    assert not snapshot_cheaper(10**9, 1, 0.0)  # 0: only past truncation
    assert snapshot_cheaper(3, 1, 2.0, min_lag=1)


def test_unsent_counts_what_the_stream_would_send_not_excluded_or_own_origins():
    c = Cursor(C, {A: 10}, exclude=[B])
    assert c.unsent({A: 25, B: 1000, C: 500}) == 15
    c.on_sent([pb.Entry(origin=A, seq=20)])
    assert c.unsent({A: 25, B: 1000, C: 500}) == 5
    c.set_exclude([])
    assert c.unsent({A: 25, B: 1000}) == 1005
    assert c.unsent({A: 3}) == 0  # the subscriber holds more than this server


# ------------------------------------------------------------------ store
def entry(origin: str, seq: int, key: bytes, value: bytes | None, ms: int) -> pb.Entry:
    op = pb.DELETE if value is None else pb.PUT
    return pb.Entry(origin=origin, seq=seq, hlc=pack(ms, 0), op=op, key=key, value=value or b"")


def test_truncation_survives_a_restart_and_recovery_starts_past_it(tmp_path):
    s = Store(tmp_path / "d")
    s.commit([entry(A, i, b"k%d" % (i % 3), b"v", i) for i in range(1, 11)])
    assert truncate_log(s, A, 6, limit=4) == 4  # a chunk: the point moves with it
    assert s.truncated == {A: 4} and log_held(s) == 6
    assert truncate_log(s, A, 6, limit=4) == 2
    assert s.truncated == {A: 6} and log_held(s) == 4
    assert truncate_log(s, A, 6, limit=4) == 0
    assert s.read_log(A, 1, 10)[0].seq == 7
    s.close()
    s = Store(tmp_path / "d")
    assert s.recover({}) == {A: 4} and s.vv == {A: 10} and s.tops[A] == pack(10, 0)
    truncate_log(s, A, 10, limit=100)
    s.close()
    s = Store(tmp_path / "d")
    s.recover({A: 10})
    assert s.vv == {A: 10} and s.tops[A] == pack(10, 0) and log_held(s) == 0


def test_collected_tombstones_leave_the_live_digest_alone(tmp_path):
    s = Store(tmp_path / "d")
    s.commit([entry(A, 1, b"x", b"1", 1), entry(A, 2, b"y", b"2", 2), entry(A, 3, b"x", None, 3)])
    digest, keys = s.digest, s.keys
    assert (s.tombs, keys) == (1, 1) and (digest, keys) == s.recompute_digest()
    assert collect_tombstones(s, pack(3, 0), lambda r: True, 100) == (0, 0)  # below 3 only
    assert collect_tombstones(s, pack(3, 0) + 1, lambda r: False, 100) == (0, 1)
    assert collect_tombstones(s, pack(3, 0) + 1, lambda r: True, 100) == (1, 1)
    assert s.get(b"x") is None and s.tombs == 0 and (s.digest, s.keys) == (digest, keys)
    s.close()
    s = Store(tmp_path / "d")
    assert s.tombs == 0 and (s.digest, s.keys) == s.recompute_digest()


def test_a_snapshot_merged_into_another_store_gives_the_same_state(tmp_path):
    src, dst = Store(tmp_path / "src"), Store(tmp_path / "dst")
    src.commit([entry(A, i, b"k%02d" % i, b"v%d" % i, i) for i in range(1, 8)])
    src.commit([entry(A, 8, b"k01", None, 8)])
    collect_tombstones(src, pack(9, 0), lambda r: True, 100)
    # dst holds an older put of k01 (covered: A seq 1) and a key of its own origin
    dst.commit([entry(A, 1, b"k01", b"v1", 1), entry(B, 1, b"zz", b"mine", 20)])
    vv, tops, records, pages = snapshot_pages(src, max_records=3, max_bytes=1 << 20)
    assert records == 6 and vv == {A: 8}
    known = Known(B, dict(dst.vv), dict(dst.tops), "", {}, None, frozenset(), 10**6, 0, 0)
    drops = judge("src", vv, tops, src.horizon, known).drops
    lo = b""
    for page, count in pages:
        assert count == len(page.records) and not page.packed
        merge_snapshot(dst, page.records, lo, page.end, drops)
        lo = page.end
    assert finish_snapshot(dst, vv, tops, B) == {A: 8}
    assert dst.get(b"k01") is None and dst.get(b"zz").value == b"mine"
    assert dst.vv == {A: 8, B: 1} and dst.truncated == {A: 8}
    assert (dst.digest, dst.keys) == dst.recompute_digest()
    assert truncate_log(dst, A, 0, 100) == 1  # its own A seq 1, now below the point, swept
    assert truncate_log(dst, A, 0, 100) == 0 and dst.read_log(A, 1, 8) == []
    assert dst.keys == src.keys + 1
    dst.close()
    dst = Store(tmp_path / "dst")
    dst.recover({})
    assert dst.vv == {A: 8, B: 1} and dst.tops[A] == pack(8, 0)


def test_the_tombstone_index_and_count_follow_any_batch(tmp_path):
    """Puts and deletes of a few keys, several per batch, in and out of order of version:
    the index names exactly the tombstones held, and the count agrees, across a restart."""
    import random

    from node.storage.store import KEY, TOMB, Record

    rng = random.Random(7)
    s = Store(tmp_path / "d")
    seqs = {A: 0, B: 0}
    for _ in range(60):
        batch = []
        for _ in range(rng.randrange(1, 6)):
            origin = rng.choice([A, B])
            seqs[origin] += 1
            value = None if rng.random() < 0.4 else b"v"
            key, ms = b"k%d" % rng.randrange(4), rng.randrange(1, 50)
            batch.append(entry(origin, seqs[origin], key, value, ms))
        s.commit(sorted(batch, key=lambda e: (e.origin, e.seq)))
        held = {k[1:]: Record.decode(v) for k, v in s.db.iterator(prefix=KEY)}
        tombs = {(r.hlc, k) for k, r in held.items() if r.op == pb.DELETE}
        index = {
            (int.from_bytes(k[1:9], "big"), k[9:])
            for k in s.db.iterator(prefix=TOMB, include_value=False)
        }
        assert index == tombs and s.tombs == len(tombs)
    s.close()
    assert Store(tmp_path / "d").tombs == len(tombs)
