"""A container of the node image runs a real node that the host reaches over gRPC."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from testcontainers.core.container import DockerContainer

from cluster.backends.docker.image import NODE_PORT, ImageInfo
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=1
        )
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_serving(container: DockerContainer, timeout: float = 30) -> str:
    """The host address of the node's gRPC port once it answers SERVING; on timeout the
    message carries the container's state and log."""

    def address() -> str:
        host = container.get_container_host_ip()
        return f"{host}:{container.get_exposed_port(NODE_PORT)}"

    def missing() -> str:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        logs = wrapped.logs(tail=30).decode(errors="replace")
        return f"the node in {wrapped.short_id} ({wrapped.status}) to serve; its log:\n{logs}"

    def ready() -> str | None:
        addr = address()
        return addr if serving(addr) else None

    return wait_for(ready, timeout, missing)


def test_node_container_serves_health_put_and_get(
    docker_engine: Any, node_image: ImageInfo, labels: dict[str, str]
):
    suffix = uuid.uuid4().hex[:8]
    with contextlib.ExitStack() as stack:
        # A named volume the test owns (labelled: swept even if this run is killed). It
        # starts empty, so Docker copies the image's /data into it, owner included: the
        # node runs as a non-root user and must be able to write there.
        volume = docker_engine.volumes.create(name=f"remesh-test-{suffix}", labels=labels)
        stack.callback(volume.remove, force=True)
        container = (
            DockerContainer(node_image.tag, labels=labels, name=f"remesh-test-node-{suffix}")
            .with_exposed_ports(NODE_PORT)
            .with_volume_mapping(volume.name, "/data", "rw")
            .with_command(
                ["--config", "/etc/remesh/node.yaml", "--node-id", "node-a", "--no-auth"]
            )
            .with_env("REMESH_PEERS", "")
        )
        stack.enter_context(container)  # removed (with -v) on exit, even if start failed

        address = wait_serving(container)
        with grpc.insecure_channel(address) as channel:
            kv = pb_grpc.KVStub(channel)
            kv.Put(pb.PutRequest(key=b"greeting", value=b"hello"), timeout=5)
            got = kv.Get(pb.GetRequest(key=b"greeting"), timeout=5)
            assert got.found and got.value == b"hello"

        # A graceful restart keeps the data: it lives on the volume, not in the container.
        wrapped = container.get_wrapped_container()
        wrapped.restart(timeout=10)
        address = wait_serving(container)
        with grpc.insecure_channel(address) as channel:
            got = pb_grpc.KVStub(channel).Get(pb.GetRequest(key=b"greeting"), timeout=5)
            assert got.found and got.value == b"hello"
        logs = wrapped.logs().decode(errors="replace")
        assert "Traceback" not in logs, logs

    leftovers = docker_engine.containers.list(all=True, filters={"name": suffix})
    leftovers += docker_engine.volumes.list(filters={"name": suffix})
    assert not leftovers, f"left behind: {leftovers}"
