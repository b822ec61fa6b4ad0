"""Per-origin hash chains (node/protocol/chain.py, node/storage/chains.py), the fork book
(node/protocol/forks.py) and giving a forked range back (node/storage/rewind.py)."""

from __future__ import annotations

import pytest

from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.protocol.chain import CHAIN_BYTES, check_chains, compare, extend, genesis, link
from node.protocol.forks import THIS_NODE, ForkBook
from node.storage import chains, rewind
from node.storage.store import Store

pytestmark = pytest.mark.unit

A, B, C = "a@000000000001", "b@000000000002", "c@000000000003"


def entry(seq: int, key: bytes = b"k", value: bytes = b"v", origin: str = A, hlc: int = 0):
    return pb.Entry(origin=origin, seq=seq, hlc=hlc or 100 + seq, op=pb.PUT, key=key, value=value)


def chain_of(entries: list[pb.Entry], origin: str = A) -> bytes:
    return extend(genesis(origin), [e.SerializeToString() for e in entries])


# ------------------------------------------------------------------------- pure chain
def test_a_chain_binds_every_entry_below_it_and_its_origin():
    log = [entry(s, b"k%d" % s) for s in range(1, 6)]
    forged = [*log[:2], entry(3, b"k3", b"other"), *log[3:]]
    assert chain_of(log) == chain_of([entry(s, b"k%d" % s) for s in range(1, 6)])
    assert chain_of(log) != chain_of(forged)  # the difference shows at every later seq
    assert chain_of(log[:2]) == chain_of(forged[:2])
    assert genesis(A) != genesis(B) and len(genesis(A)) == CHAIN_BYTES
    assert link(genesis(A), log[0].SerializeToString()) == chain_of(log[:1])


def test_compare_checks_only_where_this_node_holds_and_knows_the_seq():
    mine = {(A, 3): b"x" * 16, (B, 2): b"y" * 16}
    got = compare(
        vv={A: 3, B: 2, C: 9},
        chains={A: b"x" * 16, B: b"z" * 16, C: b"w" * 16},
        have={A: 5, B: 2, C: 4},
        mine=lambda o, s: mine.get((o, s)),
    )
    assert sorted(got) == [(A, 3, True), (B, 2, False)]  # C: seq 9 is not held here


@pytest.mark.parametrize(
    "chains, vv, reason",
    [
        ({A: b"x" * 15}, {A: 1}, "expected 16"),
        ({B: b"x" * 16}, {A: 1}, "not in its vv"),
        ({"../x": b"x" * 16}, {"../x": 1}, "bad origin"),
    ],
)
def test_malformed_chain_values_are_refused_with_a_reason(chains, vv, reason):
    with pytest.raises(Refused, match=reason):
        check_chains(chains, vv, "a Heartbeat", "node-m")


# ------------------------------------------------------------------------- fork book
def test_a_difference_with_the_origin_means_this_node_repairs_and_stops_relaying():
    book = ForkBook()
    assert book.observe(A, 4, True, "a", A) is None and book.agreed[A] == 4
    seen = book.observe(A, 7, False, "a", A)
    assert seen is not None and seen.new and not seen.cleared
    assert book.to_repair() == [A]
    assert book.verdict(A, C).startswith(THIS_NODE)
    assert book.relay_caps(C) == {A: 4}  # relays only what the origin confirmed
    assert book.observe(A, 7, False, "a", A).new is False  # said once
    book.forget(A)
    assert not book.forks and book.relay_caps(C) == {}


def test_two_other_nodes_differing_is_settled_by_what_the_origin_confirmed():
    book = ForkBook()
    book.observe(A, 9, True, "a", A)
    book.observe(A, 9, False, "b", B)
    assert "matched the origin's at seq 9" in book.verdict(A, C)
    assert book.relay_caps(C) == {} and book.to_repair() == []
    book2 = ForkBook()
    book2.observe(A, 9, False, "b", B)
    assert book2.verdict(A, C).startswith("unknown") and "gone for good" in book2.verdict(A, C)
    assert book2.relay_caps(C) == {A: 0}


def test_a_fork_clears_when_the_peer_agrees_or_comes_back_as_a_new_incarnation():
    book = ForkBook()
    book.observe(A, 5, False, "b", B)
    book.observe(A, 5, False, "c", C)
    assert book.observe(A, 6, True, "b", B) is None  # c still differs
    assert book.met("c", C) == []  # same incarnation: nothing changes
    (gone,) = book.met("c", "c@0000000000ff")
    assert gone.cleared and not book.forks


def test_the_origin_says_others_hold_what_it_never_wrote():
    book = ForkBook()
    book.observe(A, 3, False, "b", B)
    assert "never wrote" in book.verdict(A, A) and book.relay_caps(A) == {}


# --------------------------------------------------------------- store: kept and looked up
@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db")
    yield s
    s.close()


def test_the_store_keeps_chains_at_every_seq_and_across_a_restart(tmp_path):
    s = Store(tmp_path / "db")
    log = [entry(i, b"k%d" % (i % 7)) for i in range(1, 151)]
    for i in range(0, 150, 40):
        s.commit(log[i : i + 40])
    s.commit([entry(1, origin=B)])
    for seq in (0, 1, 63, 64, 65, 128, 149, 150):
        assert chains.chain_at(s, A, seq) == chain_of(log[:seq]), seq
    assert chains.chain_at(s, A, 151) is None
    s.close()
    s = Store(tmp_path / "db")
    s.recover({})
    chains.recover_chains(s)
    assert chains.heads(s) == {A: chain_of(log), B: chain_of([entry(1, origin=B)], B)}
    s.close()


def test_a_data_directory_from_before_chains_gets_them_from_its_log(tmp_path):
    s = Store(tmp_path / "db")
    log = [entry(i) for i in range(1, 101)]
    s.commit(log)
    with s.db.write_batch() as batch:  # as an older version left it: no chain records
        for key, _ in s.db.iterator(prefix=b"c"):
            batch.delete(key)
        batch.delete(chains.head_key(A))
    s.close()
    s = Store(tmp_path / "db")
    s.recover({})
    chains.recover_chains(s)
    assert s.chains[A] == chain_of(log) and chains.chain_at(s, A, 70) == chain_of(log[:70])
    s.close()


def test_rewind_drops_the_forked_range_and_brings_back_what_it_beat(store):
    store.commit([entry(1, b"k", b"real", hlc=10), entry(1, b"j", b"b", origin=B, hlc=11)])
    store.commit([entry(2, b"k", b"forged", hlc=20), entry(3, b"n", b"new", hlc=21)])
    assert store.get(b"k").value == b"forged" and store.keys == 3
    assert rewind.why_not(store) == ""
    assert rewind.rewind(store, A, 1) == 2
    assert store.vv == {A: 1, B: 1} and store.get(b"k").value == b"real"
    assert store.get(b"n") is None and store.keys == 2
    assert (store.digest, store.keys) == store.recompute_digest()
    assert store.chains[A] == chain_of([entry(1, b"k", b"real", hlc=10)])
    store.commit([entry(2, b"k", b"real2", hlc=30)])  # the origin's own entries come again
    assert store.get(b"k").value == b"real2"


def test_a_truncated_log_is_not_rewound(store):
    store.commit([entry(1)])
    store.truncated[B] = 5
    assert "truncated" in rewind.why_not(store)
