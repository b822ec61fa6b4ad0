"""Server reflection: what grpcurl, grpcui, Postman or Evans ask a node before any call."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from node.app import Node
from node.config import NodeConfig

pytestmark = pytest.mark.integration


def test_a_node_lists_and_describes_its_services_through_reflection(tmp_path) -> None:
    async def main() -> tuple[list[str], descriptor_pb2.FileDescriptorProto]:
        node = Node(NodeConfig(node_id="a", data_dir=tmp_path / "a", cluster="refl"))
        await node.start()
        try:
            # A plain gRPC client of the reflection service: no remesh stub, no .proto.
            async with grpc.aio.insecure_channel(node.address) as channel:
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)
                requests = [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol="remesh.v1.KV"),
                ]
                answers = [a async for a in stub.ServerReflectionInfo(iter(requests), timeout=10)]
        finally:
            await node.stop()
        listed = [s.name for s in answers[0].list_services_response.service]
        files = answers[1].file_descriptor_response.file_descriptor_proto
        return listed, descriptor_pb2.FileDescriptorProto.FromString(files[0])

    listed, schema = asyncio.run(main())
    assert set(listed) >= {
        "remesh.v1.KV",
        "remesh.v1.Replication",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    # Enough to call KV.Put without the .proto: its methods and their message types.
    assert schema.package == "remesh.v1"
    kv = next(s for s in schema.service if s.name == "KV")
    methods = {m.name: m.input_type for m in kv.method}
    assert methods["Put"] == ".remesh.v1.PutRequest"
    assert {"Get", "PutBatch", "Scan", "Watch", "Status", "Delete"} <= set(methods)
