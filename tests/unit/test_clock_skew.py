"""Entries dated too far ahead are held, not applied; peers measure each other's clocks."""

from __future__ import annotations

import asyncio

import pytest

from node.clock import pack, wall_ms
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol import Held, Identity, ServerLimits, ServerSession, SubscriberSession
from node.replica import Replica

pytestmark = pytest.mark.unit

C = "node-c@0123456789ab"
DAY_MS = 86_400_000


def replica(tmp_path) -> Replica:
    return Replica(NodeConfig(node_id="node-a", data_dir=tmp_path / "a", cluster="skew"))


def entry(seq: int, physical_ms: int) -> pb.Entry:
    return pb.Entry(
        origin=C, seq=seq, hlc=pack(physical_ms, 0), op=pb.PUT, key=b"k%d" % seq, value=b"v"
    )


def test_a_batch_dated_a_day_ahead_is_held_and_changes_nothing(tmp_path):
    r = replica(tmp_path)
    clock, digest = r.clock.last, r.store.digest
    with pytest.raises(Held, match=r"clock skew: node-c@0123456789ab is 86,400 s ahead"):
        r.apply_remote([entry(1, wall_ms()), entry(2, wall_ms() + DAY_MS)], "node-b")
    assert r.clock.last == clock and r.store.digest == digest and dict(r.vv) == {}
    assert r.apply_remote([entry(1, wall_ms() + 1000)], "node-b") == 1  # within the bound
    r.store.close()


def test_the_hold_lifts_when_this_nodes_clock_catches_up(tmp_path):
    r = replica(tmp_path)
    ahead = entry(1, wall_ms() + 2 * 60_000)  # 2 min ahead; the default bound is 60 s
    with pytest.raises(Held):
        r.apply_remote([ahead], "node-b")
    r.clock_offset_ms = 2 * 60_000  # as if our clock moved forward (the skew fault)
    assert r.apply_remote([ahead], "node-b") == 1
    (v,) = asyncio.run(r.write([pb.Write(op=pb.PUT, key=b"k1", value=b"x")]))
    assert v.hlc > ahead.hlc  # the local write after it still wins
    r.store.close()


def test_peers_measure_each_others_clock_offset_from_welcome_and_heartbeats():
    a, b = Identity("node-a", "c", "t", "node-a@0123456789aa"), Identity("node-b", "c", "t")
    server = ServerSession(a, ServerLimits(10, 1 << 20, 1.0, 2.0))
    sub = SubscriberSession(b, "node-a", "addr", 2.0)
    welcome = server.on_hello(sub.hello({}, []), {}, 0.0, wall_ms=10_000)
    sub.on_welcome(welcome, {}, 0.0, wall_ms=4_000)
    assert sub.clock_offset_ms == 6_000
    beat = server.tick(1.5, {}, wall_ms=20_000)
    sub.on_message(beat, 1.5, wall_ms=21_000)
    assert sub.clock_offset_ms == -1_000
