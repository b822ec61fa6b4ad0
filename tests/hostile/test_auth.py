"""Hostile catalogue: calls without the cluster token, or with another one, over real gRPC
to an embedded node. Every method the table says needs the token is called with a
request that would change something; each is refused UNAUTHENTICATED naming the
cluster, and afterwards nothing has changed (keys, vv, digest, peers, clock, the gate)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from node.api.auth import METHODS
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.protocol import PeerFailed
from node.replication.outbound import REPLICATE, say_hello
from tests.hostile.embedded import TOKEN, ThreadedNode

pytestmark = pytest.mark.component

HELLO = pb.SubscriberMessage(
    hello=pb.Hello(protocol=1, cluster="hostile", tenant="default", node_id="node-x")
)
EVIL = pb.Write(op=pb.PUT, key=b"kept", value=b"evil")
# One request per method that needs the token: each would change or reveal something (a
# list: the messages of a client stream).
REQUESTS = {
    "/remesh.v1.KV/Put": pb.PutRequest(key=b"new", value=b"evil"),
    "/remesh.v1.KV/PutBatch": pb.PutBatchRequest(writes=[EVIL]),
    "/remesh.v1.KV/Writes": [EVIL, pb.Write(key=b"new", value=b"evil")],
    "/remesh.v1.KV/Get": pb.GetRequest(key=b"kept"),
    "/remesh.v1.KV/Delete": pb.DeleteRequest(key=b"kept"),
    "/remesh.v1.KV/Scan": pb.ScanRequest(),
    "/remesh.v1.KV/Watch": pb.WatchRequest(),
    "/remesh.v1.KV/Status": pb.StatusRequest(),
    "/remesh.v1.Replication/Replicate": [HELLO],
    "/remesh.v1.Admin/SetPeers": pb.SetPeersRequest(peers={"evil": "127.0.0.1:9"}),
    "/remesh.v1.Admin/Decommission": pb.DecommissionRequest(),
    "/remesh.v1.Admin/SetClockOffset": pb.SetClockOffsetRequest(offset_ms=86_400_000),
}
CREDENTIALS = {
    "no token": (),
    "a wrong token": (("authorization", "Bearer " + "0" * len(TOKEN)),),
    "the token without its scheme": (("authorization", TOKEN),),
    "the token under another header": (("x-api-key", TOKEN),),
    "the right token and a wrong one": (
        ("authorization", "Bearer " + TOKEN),
        ("authorization", "Bearer nope"),
    ),
}


def test_every_method_that_needs_the_token_has_a_case() -> None:
    assert set(REQUESTS) == {m for m, auth in METHODS.items() if auth}


def call(channel: grpc.Channel, method: str, request, metadata) -> None:
    """Invoke ``method`` whatever its shape; raises the RpcError it ends with."""
    service, name = method[1:].split("/")
    desc = pb.DESCRIPTOR.services_by_name[service.split(".")[-1]].methods_by_name[name]
    kind = (
        ("unary" if not desc.client_streaming else "stream")
        + "_"
        + ("unary" if not desc.server_streaming else "stream")
    )
    stub = getattr(channel, kind)(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    result = stub(request, metadata=metadata, timeout=10)
    if desc.server_streaming:
        for _ in result:
            pass


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[ThreadedNode]:
    root = tmp_path_factory.mktemp("auth")
    n = ThreadedNode(NodeConfig(node_id="node-a", data_dir=root / "a", cluster="hostile"))
    n.run(n.node.put(b"kept", b"1"))
    yield n
    n.close()


@pytest.mark.parametrize("who", list(CREDENTIALS))
@pytest.mark.parametrize("method", list(REQUESTS))
def test_a_call_without_the_token_is_refused_and_changes_nothing(node, method, who) -> None:
    before = node.fingerprint()
    request = REQUESTS[method]
    if isinstance(request, list):
        request = iter(request)
    with grpc.insecure_channel(node.node.address) as channel:
        with pytest.raises(grpc.RpcError) as err:
            call(channel, method, request, CREDENTIALS[who])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, err.value.details()
    assert "cluster hostile" in err.value.details()
    assert TOKEN not in err.value.details()
    assert node.fingerprint() == before
    assert node.node.config.peers == {}
    assert not node.node.gate.closed
    assert node.call(lambda: node.node.replica.clock_offset_ms) == 0
    assert node.call(lambda: len(node.node.replica.links.inbound)) == 0


def test_with_the_token_the_same_channel_works(node) -> None:
    node.kv.Put(pb.PutRequest(key=b"with-token", value=b"ok"), timeout=10)  # token attached
    assert node.kv.Get(pb.GetRequest(key=b"with-token"), timeout=10).value == b"ok"


def test_health_and_reflection_need_no_token(node) -> None:
    with grpc.insecure_channel(node.node.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(stub.ServerReflectionInfo(iter([ask]), timeout=10))
    names = {s.name for s in answers[0].list_services_response.service}
    assert "remesh.v1.KV" in names


async def hello_outcomes(address: str, metadata, tries: int) -> Counter[str]:
    """How ``tries`` link handshakes (``say_hello`` then the Welcome) end, as
    'CODE: details' strings: the server refuses before it reads the Hello, so the write
    races the refusal each time."""
    outcomes: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        for _ in range(tries):
            call = channel.stream_stream(
                REPLICATE,
                request_serializer=pb.SubscriberMessage.SerializeToString,
                response_deserializer=pb.ServerMessage.FromString,
            )(metadata=metadata)
            try:
                await say_hello(channel, call, HELLO, metadata, 10, "node-a")
                await call.read()
                outcomes[f"{(await call.code()).name}"] += 1
            except grpc.aio.AioRpcError as exc:
                outcomes[f"{exc.code().name}: {exc.details()}"] += 1
            except PeerFailed as exc:
                outcomes[f"PeerFailed: {exc}"] += 1
    return outcomes


def test_a_refused_link_always_learns_why_however_the_hello_races_the_refusal(node) -> None:
    """grpcio's aio client replaces the server's status with 'INTERNAL: Internal error
    from Core' when a write loses the race with the server ending the call
    (grpc/grpc#36066): about one refused Replicate in five here showed that instead of
    the wrong token. ``say_hello`` asks again with a unary call, so every one names it."""
    wrong = (("authorization", "Bearer " + "0" * len(TOKEN)),)
    outcomes = asyncio.run(hello_outcomes(node.node.address, wrong, 200))
    assert list(outcomes) == [
        "UNAUTHENTICATED: node-a: wrong token for cluster hostile: use that cluster's secrets/token"
    ], outcomes


def test_a_link_to_a_port_that_serves_no_remesh_says_so() -> None:
    """Anything else on a peer's port (here a gRPC server with no remesh service) ends the
    Replicate call unread; the link reports UNIMPLEMENTED, never the INTERNAL placeholder."""

    async def run() -> Counter[str]:
        server = grpc.aio.server()
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            return await hello_outcomes(f"127.0.0.1:{port}", (), 50)
        finally:
            await server.stop(None)

    outcomes = asyncio.run(run())
    assert list(outcomes) == ["UNIMPLEMENTED: Method not found!"], outcomes
