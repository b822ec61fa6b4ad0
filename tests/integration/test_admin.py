"""The Admin service on embedded nodes over real gRPC: live peer changes and decommission."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from node.api.gate import REFUSED_KEY
from node.app import Node
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from tests.integration import embedded
from tests.integration.embedded import linked_pair, until

pytestmark = pytest.mark.integration


def config(tmp: Path, name: str, **kw) -> NodeConfig:
    return embedded.config(tmp, name, "adm", **kw)


def linked(node: Node, peer: str) -> bool:
    return any(p.peer == peer and p.connected for p in node.status().peers)


def test_set_peers_adds_and_drops_links_live_and_refuses_bad_input(tmp_path):
    async def main():
        a, b, c = (Node(config(tmp_path, n)) for n in "abc")
        for n in (a, b, c):
            await n.start()
        async with grpc.aio.insecure_channel(a.address) as ch:
            admin = pb_grpc.AdminStub(ch)
            r = await admin.SetPeers(pb.SetPeersRequest(peers={"b": b.address}))
            assert list(r.added) == ["b"] and not r.removed
            await until(lambda: linked(a, "b"), 10, "a>b up")
            await b.put(b"k1", b"v1")
            await until(lambda: a.get(b"k1") is not None, 10, "k1 at a")

            bad = [
                {"B": b.address},  # not the name rule
                {"a": b.address},  # itself
                {"c": "nowhere"},  # not host:port
                {"b": b.address, "c": "127.0.0.1:99999"},
            ]
            for peers in bad:
                with pytest.raises(grpc.aio.AioRpcError) as exc:
                    await admin.SetPeers(pb.SetPeersRequest(peers=peers))
                assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, peers
                assert "SetPeers:" in exc.value.details()
                assert a.config.peers == {"b": b.address}, "bad input changed the peers"

            r = await admin.SetPeers(pb.SetPeersRequest(peers={"c": c.address}))
            assert list(r.added) == ["c"] and list(r.removed) == ["b"]
            await until(lambda: linked(a, "c"), 10, "a>c up")
            assert "b" not in {p.peer for p in a.status().peers if p.address}
            assert set(a.links) == {"c"}
            await c.put(b"k2", b"v2")
            await until(lambda: a.get(b"k2") is not None, 10, "k2 at a")
            await b.put(b"k3", b"v3")  # b is no longer a's peer: nothing comes
            r = await admin.SetPeers(pb.SetPeersRequest(peers={"c": c.address}))
            assert list(r.kept) == ["c"] and not (r.added or r.removed or r.changed)
            assert a.get(b"k3") is None
        for n in (a, b, c):
            await n.stop()

    asyncio.run(main())


def test_decommission_refuses_writes_and_reports_what_peers_hold(tmp_path):
    async def main():
        a, b = await linked_pair(config(tmp_path, "a"), config(tmp_path, "b"))
        for i in range(50):
            await a.put(b"k%d" % i, b"v")
        async with grpc.aio.insecure_channel(a.address) as ch:
            admin, kv = pb_grpc.AdminStub(ch), pb_grpc.KVStub(ch)
            first = await admin.Decommission(pb.DecommissionRequest())
            assert first.replica_id == a.status().replica_id
            assert dict(first.vv) == {first.replica_id: 50}
            assert (await kv.Status(pb.StatusRequest())).state == "decommissioned"
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await kv.Put(pb.PutRequest(key=b"late", value=b"x"))
            assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "decommissioned" in exc.value.details()
            assert (REFUSED_KEY, "decommissioned") in tuple(exc.value.trailing_metadata())
            assert (await kv.Get(pb.GetRequest(key=b"k1"))).found, "reads still served"

            async def held() -> bool:
                r = await admin.Decommission(pb.DecommissionRequest())
                return r.all_held

            await until(held, 10, "b to ack a's 50 entries")
            r = await admin.Decommission(pb.DecommissionRequest())
            assert [(p.peer, p.subscribed, p.missing) for p in r.peers] == [("b", True, 0)]
        assert b.get(b"late") is None
        await a.stop()
        await b.stop()

    asyncio.run(main())
