"""Mutual TLS on a real cluster (``tls: true``): the mesh converges and heals through the
link proxy (which relays TLS bytes), and at the node's door a caller without a
certificate, with one from another cluster's CA, or with a node's certificate saying
Hello as another node, is refused and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from cluster import certs
from cluster.api import Cluster
from cluster.secrets import Paths, secrets_dir
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory) -> Iterator[Cluster]:
    c = Cluster.up("mesh3", home=tmp_path_factory.mktemp("tls") / "home", tls=True)
    try:
        yield c
    finally:
        c.down()


def dial(c: Cluster, node: str, ca: bytes | None, cert: bytes | None, key: bytes | None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    options = [("grpc.ssl_target_name_override", node)]
    return grpc.secure_channel(c.address(node), creds, options=options)


def files(c: Cluster) -> Paths:
    return Paths(secrets_dir(c.dir))


def read(path) -> bytes:
    return path.read_bytes()


def test_mesh3_with_tls_converges_and_heals_a_partition_through_the_proxy(tls_cluster):
    c = tls_cluster
    assert c.tls and c.has_proxy
    for node in c.topology.names():
        c.write(node, f"from-{node}".encode(), b"1")
    c.converge(60)
    c.partition([["node-a"], ["node-b", "node-c"]])
    c.write("node-a", b"cut-a", b"a")
    c.write("node-b", b"cut-b", b"b")
    assert c.read("node-a", b"cut-b") is None  # the cut holds: nothing crosses it
    c.heal()
    c.converge(60)
    assert c.read("node-a", b"cut-b") == b"b" and c.read("node-c", b"cut-a") == b"a"
    assert "mutual TLS, token required" in c.log_path("node-a").read_text()
    assert c.unexpected_log_lines() == []


def refused_at_handshake(channel: grpc.Channel, token: bytes) -> str:
    metadata = (("authorization", "Bearer " + token.decode().strip()),)
    with channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.KVStub(channel).Put(
            pb.PutRequest(key=b"evil", value=b"x"), metadata=metadata, timeout=10
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    return err.value.details()


def test_a_client_without_a_certificate_is_refused(tls_cluster):
    c = tls_cluster
    token = read(files(c).token)
    before = c.snapshot()
    refused_at_handshake(grpc.insecure_channel(c.address("node-a")), token)
    refused_at_handshake(dial(c, "node-a", read(files(c).ca[0]), None, None), token)
    assert c.snapshot() == before


def test_a_certificate_from_another_clusters_ca_is_refused(tls_cluster):
    c = tls_cluster
    other_ca = certs.make_ca(c.name)  # same cluster name, another CA: still a stranger
    stranger = certs.issue(other_ca, "node-b", server=True)
    before = c.snapshot()
    channel = dial(c, "node-a", read(files(c).ca[0]), stranger.cert, stranger.key)
    refused_at_handshake(channel, read(files(c).token))
    assert c.snapshot() == before


def hello(c: Cluster, node_id: str) -> Iterator[pb.SubscriberMessage]:
    yield pb.SubscriberMessage(
        hello=pb.Hello(protocol=1, cluster=c.name, tenant=c.topology.tenant, node_id=node_id)
    )


def replicate_as(c: Cluster, cert_of: tuple, says: str) -> pb.ServerMessage:
    """Node-a's first answer to a Replicate stream opened with ``cert_of``'s certificate
    (and the token) whose Hello says ``says``."""
    cert_path, key_path = cert_of
    token = read(files(c).token).decode().strip()
    channel = dial(c, "node-a", read(files(c).ca[0]), read(cert_path), read(key_path))
    with channel:
        call = pb_grpc.ReplicationStub(channel).Replicate(
            hello(c, says), metadata=(("authorization", "Bearer " + token),), timeout=10
        )
        try:
            return next(call)
        finally:
            call.cancel()


def test_a_peer_with_node_b_certificate_saying_hello_as_node_c_is_refused(tls_cluster):
    c = tls_cluster
    before = c.snapshot()
    with pytest.raises(grpc.RpcError) as err:
        replicate_as(c, files(c).node("node-b"), "node-c")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "certificate names 'node-b' but its Hello says 'node-c'" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:  # the tool's certificate is no node's
        replicate_as(c, files(c).tool, "node-b")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The control: node-b's certificate saying Hello as node-b is welcome.
    assert replicate_as(c, files(c).node("node-b"), "node-b").WhichOneof("msg") == "welcome"
    assert c.snapshot() == before


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("SetPeers", pb.SetPeersRequest(peers={"node-b": "127.0.0.1:1"})),
        ("Decommission", pb.DecommissionRequest()),
        ("SetClockOffset", pb.SetClockOffsetRequest(offset_ms=59_000)),
    ],
)
def test_a_members_certificate_cannot_administer_another_node(tls_cluster, method, request_):
    """A member holds its own key: it may replicate as itself, never re-point, decommission
    or skew another node (the way one lying member would reach the others)."""
    c = tls_cluster
    token = read(files(c).token).decode().strip()
    cert, key = files(c).node("node-b")
    before = c.node_status("node-a")
    with dial(c, "node-a", read(files(c).ca[0]), read(cert), read(key)) as channel:
        with pytest.raises(grpc.RpcError) as err:
            getattr(pb_grpc.AdminStub(channel), method)(
                request_, metadata=(("authorization", "Bearer " + token),), timeout=10
            )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value.details()
    assert f"Admin.{method} is for the operator's certificate" in err.value.details()
    assert "names 'node-b'" in err.value.details()
    after = c.node_status("node-a")
    assert sorted(p.peer for p in after.peers) == sorted(p.peer for p in before.peers)
    assert after.state == "serving"
    c.write("node-a", f"still-{method}".encode(), b"1")  # not decommissioned
