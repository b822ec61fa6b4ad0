"""The handshake: who may subscribe to whom.

A subscriber opens a stream with ``Hello{protocol, cluster, tenant, node_id, vv,
exclude}``; the server answers ``Welcome{node_id, vv}``. Each side checks the
other is the node it means to talk to before any entry moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.errors import PeerFailed, Refused
from node.protocol.identity import NAME_RE, ORIGIN_RE, name_of

PROTOCOL = 1


@dataclass(frozen=True)
class Identity:
    """This node as its peers see it."""

    node_id: str
    cluster: str
    tenant: str
    replica_id: str = ""  # node_id@incarnation: the origin of this node's writes

    @property
    def origin(self) -> str:
        return self.replica_id or self.node_id


def make_hello(me: Identity, vv: Mapping[str, int], exclude: list[str]) -> pb.SubscriberMessage:
    return pb.SubscriberMessage(
        hello=pb.Hello(
            protocol=PROTOCOL,
            cluster=me.cluster,
            tenant=me.tenant,
            node_id=me.node_id,
            replica_id=me.origin,
            vv=vv,
            exclude=exclude,
            packed_snapshots=True,
        )
    )


def check_hello(me: Identity, msg: pb.SubscriberMessage | None) -> pb.Hello:
    """The server's check of a stream's first message; ``None``: none came in time."""
    kind = msg.WhichOneof("msg") if msg is not None else None
    if msg is None or kind != "hello":
        got = f", got {kind or 'an empty message'}" if msg is not None else ""
        raise Refused(f"a Replicate stream must start with Hello{got}")
    hello = msg.hello
    if hello.protocol != PROTOCOL:
        raise Refused(
            f"protocol {hello.protocol} not supported; this node speaks {PROTOCOL}",
            "precondition",
        )
    if not NAME_RE.match(hello.node_id):
        raise Refused(f"bad node id {hello.node_id!r} in Hello")
    if hello.replica_id and (
        not ORIGIN_RE.match(hello.replica_id) or name_of(hello.replica_id) != hello.node_id
    ):
        raise Refused(f"bad replica id {hello.replica_id[:80]!r} for node {hello.node_id}")
    if hello.node_id == me.node_id:
        raise Refused(f"node {hello.node_id} connected to itself: check its peers", "precondition")
    if hello.cluster != me.cluster:
        raise Refused(
            f"{hello.node_id} is in cluster {hello.cluster!r}, "
            f"{me.node_id} in {me.cluster!r}: check the peer addresses",
            "precondition",
        )
    if hello.tenant != me.tenant:
        raise Refused(
            f"{hello.node_id} belongs to tenant {hello.tenant!r}, {me.node_id} to {me.tenant!r}",
            "permission",
        )
    return hello


def check_welcome(msg: pb.ServerMessage, peer: str, address: str) -> pb.Welcome:
    """The subscriber's check that it reached the node it dialled."""
    kind = msg.WhichOneof("msg")
    if kind != "welcome":
        raise PeerFailed(f"expected Welcome, got {kind}")
    welcome = msg.welcome
    if welcome.node_id != peer:
        raise PeerFailed(
            f"{address} is node {welcome.node_id!r}, not {peer!r}: check the peer address"
        )
    if welcome.replica_id and (
        not ORIGIN_RE.match(welcome.replica_id) or name_of(welcome.replica_id) != peer
    ):
        raise PeerFailed(f"{address} sent a bad replica id {welcome.replica_id[:80]!r}")
    return welcome
