"""Replica identity: incarnations, the rejoin check, and refusing two writes under one
(origin, seq) — on the real Replica over LevelDB in a temp dir."""

from __future__ import annotations

import asyncio

import pytest

from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.protocol.identity import ORIGIN_RE, RejoinCheck, name_of
from node.replica import Replica

pytestmark = pytest.mark.unit

B = "node-b@0123456789ab"


def replica(tmp_path, peers=None) -> Replica:
    return Replica(
        NodeConfig(node_id="node-a", data_dir=tmp_path / "a", cluster="id", peers=peers or {})
    )


def entry(seq: int, value: bytes, origin: str = B) -> pb.Entry:
    return pb.Entry(origin=origin, seq=seq, hlc=seq, op=pb.PUT, key=b"k%d" % seq, value=value)


def write(r: Replica, n: int) -> list[pb.Version]:
    async def main() -> list[pb.Version]:
        return await r.write([pb.Write(op=pb.PUT, key=b"w%d" % i, value=b"v") for i in range(n)])

    return asyncio.run(main())


def test_a_new_data_directory_mints_an_incarnation_and_a_restart_keeps_it(tmp_path):
    r = replica(tmp_path)
    assert ORIGIN_RE.match(r.origin) and name_of(r.origin) == "node-a"
    assert r.incarnation.state == "serving"
    (v,) = write(r, 1)
    assert v.origin == r.origin
    r.store.close()
    r2 = replica(tmp_path)  # no peers to ask: nobody can hold more of it
    assert r2.origin == r.origin and r2.incarnation.state == "serving"
    r2.store.close()


def restarted_with_peers(tmp_path, peers: dict[str, str]) -> tuple[Replica, str]:
    """A replica that wrote 3 entries, restarted over its data with ``peers``."""
    r = replica(tmp_path)
    write(r, 3)
    r.store.close()
    return replica(tmp_path, peers), r.origin


def test_a_restart_with_peers_recovers_until_every_peer_confirms(tmp_path):
    r, origin = restarted_with_peers(tmp_path, {"node-b": "x:1", "node-c": "x:2"})
    assert r.incarnation.state == "recovering" and not r.incarnation.ready.is_set()
    r.on_welcome("node-b", B, {origin: 3})
    assert r.incarnation.state == "recovering"
    r.on_welcome("node-c", "node-c@0123456789ac", {origin: 2})
    assert r.incarnation.state == "serving" and r.origin == origin
    r.store.close()


def test_a_peer_holding_more_of_our_origin_means_a_restored_copy(tmp_path):
    r, origin = restarted_with_peers(tmp_path, {"node-b": "x:1"})
    r.on_welcome("node-b", B, {origin: 5})
    assert r.origin != origin and r.incarnation.state == "serving"
    assert "node-b holds" in r.incarnation.reason and "older copy" in r.incarnation.reason
    (v,) = write(r, 1)
    assert (v.origin, v.seq) == (r.origin, 1)  # never seq 4 of the old origin
    r.store.close()


def test_peers_that_do_not_answer_in_time_mean_a_new_incarnation():
    check = RejoinCheck("node-a@0123456789ab", 7, ["node-b", "node-c"])
    assert check.on_welcome("node-b", {}) is None
    verdict = check.on_timeout()
    assert verdict is not None and not verdict.keep and "node-c" in verdict.reason
    assert check.on_welcome("node-c", {}) is None  # decided once


def test_two_writes_under_one_origin_and_seq_are_refused_and_nothing_applies(tmp_path):
    r = replica(tmp_path)
    assert r.apply_remote([entry(1, b"first"), entry(2, b"second")], "node-b") == 2
    vv, digest = dict(r.vv), r.store.digest
    with pytest.raises(Refused, match="node-b@0123456789ab seq 2 with other content"):
        r.apply_remote([entry(2, b"other"), entry(3, b"third")], "node-c")
    assert dict(r.vv) == vv and r.store.digest == digest and r.get(b"k3") is None
    assert r.apply_remote([entry(2, b"second"), entry(3, b"third")], "node-c") == 1
    r.store.close()
