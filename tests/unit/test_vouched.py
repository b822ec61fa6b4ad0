"""What a node vouches for (node/replication/vouched.py): each origin only as far as that origin's
own word and what the node holds, kept across restarts, and never more after a loss."""

from __future__ import annotations

import pytest

from node.replication.vouched import KEY, Vouched
from node.storage.store import Store

pytestmark = pytest.mark.unit

ME, A, M = "c@00000000000c", "a@00000000000a", "m@00000000000e"


def test_a_node_vouches_for_its_own_writes_and_what_origins_said_within_what_it_holds(tmp_path):
    store = Store(tmp_path / "d")
    v = Vouched(store)
    vv = {ME: 3, A: 10, M: 7}
    assert v.announce(vv, ME) == {ME: 3}  # M relayed or taken on one word: nothing
    v.heard(A, {A: 50, M: 7}, vv)  # node-a's word on its own log, not on M's
    assert v.announce(vv, ME) == {ME: 3, A: 10}
    v.raise_to({M: 4}, vv)  # a snapshot range a peer vouched for
    assert v.announce({**vv, A: 6}, ME) == {ME: 3, A: 6, M: 4}  # a rewind lowers it
    store.close()
    again = Vouched(Store(tmp_path / "d"))
    assert again.announce(vv, ME) == {ME: 3, A: 10, M: 4}


def test_an_origin_it_holds_nothing_of_is_never_marked(tmp_path):
    """So a peer announcing ever new incarnations cannot grow the marks."""
    v = Vouched(Store(tmp_path / "d"))
    v.heard("z@00000000000f", {"z@00000000000f": 10**12}, {ME: 1})
    v.heard("", {"": 5}, {ME: 1})
    assert v.marks == {}


def test_unreadable_marks_vouch_for_nothing(tmp_path, caplog):
    store = Store(tmp_path / "d")
    store.db.put(KEY, b"{not json")
    assert Vouched(store).announce({ME: 2, A: 9}, ME) == {ME: 2}
    assert "unreadable; vouching for none" in caplog.text
