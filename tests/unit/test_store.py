import pytest

from node.pb import remesh_pb2 as pb
from node.storage.store import Record, Store, encode_record, record_head

pytestmark = pytest.mark.unit


def entry(origin, seq, hlc, key, value=None):
    op = pb.DELETE if value is None else pb.PUT
    return pb.Entry(origin=origin, seq=seq, hlc=hlc, op=op, key=key, value=value or b"")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db")
    yield s
    s.close()


def test_record_roundtrip():
    raw = encode_record(99, "node-a", pb.PUT, 7, 12345, b"\x00v")
    assert Record.decode(raw) == Record(hlc=99, origin="node-a", op=pb.PUT, value=b"\x00v", seq=7)
    assert record_head(raw) == (99, "node-a", pb.PUT, 12345)


def test_commit_stores_log_state_and_vv(store):
    won = store.commit([entry("a", 1, 10, b"k", b"v1"), entry("a", 2, 11, b"j", b"v2")])
    assert won == [True, True]
    assert store.vv == {"a": 2}
    assert store.get(b"k").value == b"v1"
    assert [e.seq for e in store.read_log("a", 1, 2)] == [1, 2]
    assert store.keys == 2


def test_lww_higher_hlc_wins_regardless_of_arrival_order(store):
    store.commit([entry("b", 1, 20, b"k", b"new")])
    assert store.commit([entry("a", 1, 10, b"k", b"old")]) == [False]
    assert store.get(b"k").value == b"new"


def test_lww_tie_on_hlc_is_broken_by_origin(store):
    store.commit([entry("a", 1, 10, b"k", b"from-a")])
    store.commit([entry("b", 1, 10, b"k", b"from-b")])
    assert store.get(b"k").origin == "b"


def test_delete_vs_put_tie_larger_origin_wins_either_way(tmp_path):
    for order in ([("a", b"put"), ("b", None)], [("b", None), ("a", b"put")]):
        s = Store(tmp_path / f"db-{order[0][0]}")
        for origin, value in order:
            s.commit([entry(origin, 1, 10, b"k", value)])
        rec = s.get(b"k")
        assert (rec.origin, rec.op) == ("b", pb.DELETE)  # the tombstone of b wins
        assert s.keys == 0
        s.close()


def test_delete_then_older_put_does_not_resurrect(store):
    store.commit([entry("a", 1, 10, b"k", b"v"), entry("a", 2, 20, b"k", None)])
    store.commit([entry("b", 1, 15, b"k", b"late")])
    assert store.get(b"k").op == pb.DELETE
    assert store.scan(b"") == ([], b"")


def test_digest_matches_full_recomputation(store):
    store.commit(
        [entry("a", i, 100 + i, b"k%d" % (i % 7), b"v" if i % 3 else None) for i in range(1, 60)]
    )
    store.commit([entry("b", i, 90 + 2 * i, b"k%d" % (i % 5), b"w") for i in range(1, 30)])
    assert (store.digest, store.keys) == store.recompute_digest()


def test_digest_is_order_independent(tmp_path):
    es = [entry("a", 1, 5, b"x", b"1"), entry("b", 1, 7, b"x", b"2"), entry("c", 1, 6, b"y", b"3")]
    s1, s2 = Store(tmp_path / "1"), Store(tmp_path / "2")
    for e in es:
        s1.commit([e])
    for e in reversed(es):
        s2.commit([e])
    assert s1.digest == s2.digest and s1.keys == s2.keys == 2
    s1.close()
    s2.close()


def test_batch_is_atomic_one_writebatch(store, monkeypatch):
    """A failure while building the batch writes nothing at all."""
    bad = entry("a", 2, 11, b"j", b"v")
    entries = [entry("a", 1, 10, b"k", b"v"), bad]

    class Boom(Exception):
        pass

    import node.storage.store as store_mod

    calls = []

    def encode_then_fail(*args):
        calls.append(args)
        if len(calls) == 2:  # the log and the first state record are already in the batch
            raise Boom()
        return real_encode(*args)

    real_encode = store_mod.encode_record
    monkeypatch.setattr(store_mod, "encode_record", encode_then_fail)
    with pytest.raises(Boom):
        store.commit(entries)
    assert store.get(b"k") is None and store.vv == {} and store.read_log("a", 1, 2) == []


def test_recover_from_watermark_scans_forward(tmp_path):
    s = Store(tmp_path / "db")
    s.commit([entry("a", i, i, b"k", b"v") for i in range(1, 11)])
    s.commit([entry("b", i, i, b"j", b"v") for i in range(1, 4)])
    s.close()
    s = Store(tmp_path / "db")
    scanned = s.recover({"a": 7})
    assert s.vv == {"a": 10, "b": 3}
    assert scanned == {"a": 3, "b": 3}
    s.close()


def test_recover_distrusts_watermark_beyond_the_log(tmp_path):
    s = Store(tmp_path / "db")
    s.commit([entry("a", i, i, b"k", b"v") for i in range(1, 4)])
    s.close()
    s = Store(tmp_path / "db")
    s.recover({"a": 99})
    assert s.vv == {"a": 3}
    s.close()


def test_metadata_survives_reopen(tmp_path):
    s = Store(tmp_path / "db")
    s.commit([entry("a", 1, 77, b"k", b"v")])
    digest = s.digest
    s.close()
    s = Store(tmp_path / "db")
    assert (s.digest, s.keys, s.hlc) == (digest, 1, 77)
    s.close()


def test_scan_prefix_and_limit(store):
    store.commit(
        [entry("a", i, i, b"p/%d" % i, b"v") for i in range(1, 6)]
        + [entry("a", 6, 6, b"q/1", b"v")]
    )
    page, more = store.scan(b"p/")
    assert [k for k, _ in page] == [b"p/1", b"p/2", b"p/3", b"p/4", b"p/5"] and more == b""
    page, more = store.scan(b"p/", limit=2)
    assert [k for k, _ in page] == [b"p/1", b"p/2"] and more == b"p/3"


def test_scan_pages_by_bytes_and_resumes_where_it_stopped(store):
    store.commit([entry("a", i, i, b"p/%d" % i, b"v" * 100) for i in range(1, 10)])
    store.commit([entry("a", 10, 10, b"p/5", None)])  # a tombstone is skipped, not counted
    keys, start = [], b""
    while True:
        page, start = store.scan(b"p/", start=start, max_bytes=250)
        assert 1 <= len(page) <= 3
        keys += [k for k, _ in page]
        if not start:
            break
    assert keys == [b"p/%d" % i for i in range(1, 10) if i != 5]
    assert store.scan(b"p/", start=b"a")[0] == store.scan(b"p/")[0]  # before the prefix
    assert store.scan(b"p/", start=b"z") == ([], b"")  # past it
