"""One node's client: the one place the cluster tool opens gRPC channels to nodes.

A ``NodeClient`` holds one channel that reconnects quickly (a restarted node is
reachable again within a second, not after gRPC's default backoff that grows to
minutes), puts a deadline on every call, and turns gRPC failures into
``cluster.errors`` that say what to do. The CLI (through ``Cluster``), the
nemesis, the bench and the test workloads all use it. ``kv`` is the raw stub,
for what the typed methods do not cover (futures, streams).

With ``credentials`` (``cluster.secrets.Credentials``) every call on the channel, raw
stubs included, carries the cluster token, and a TLS cluster is dialled with the tool's
certificate, checking that the node's certificate names the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.errors import NodeRefused, NodeUnreachable
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from cluster.secrets import Credentials

ChannelOptions = Sequence[tuple[str, Any]]

# Reconnect within half a second of a node's restart (gRPC's default backoff grows to
# minutes). Never set grpc.min_reconnect_backoff_ms here: gRPC core also takes it as
# the connect timeout, so a small value reports a busy node as down
# (tests/integration/test_client_connect.py).
CLIENT_OPTIONS: ChannelOptions = (
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
)
TIMEOUT = 10.0
REFUSED_KEY = "remesh-refused"  # trailing metadata of a node's refusal (node/gate.py)


def writes(items: Iterable[tuple[bytes, bytes | None]]) -> list[pb.Write]:
    """Writes from ``(key, value)`` pairs; a value of None is a delete."""
    return [
        pb.Write(op=pb.DELETE, key=k) if v is None else pb.Write(op=pb.PUT, key=k, value=v)
        for k, v in items
    ]


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the token's metadata to every call of a channel, whatever the stub."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def _with(self, details: Any) -> _Details:
        metadata = (*(details.metadata or ()), *self._metadata)
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with(details), request)

    intercept_unary_stream = intercept_unary_unary
    intercept_stream_unary = intercept_unary_unary
    intercept_stream_stream = intercept_unary_unary


def open_channel(
    name: str,
    address: str,
    credentials: Credentials | None = None,
    options: ChannelOptions = CLIENT_OPTIONS,
) -> grpc.Channel:
    """A channel to node ``name`` at ``address`` that presents ``credentials``."""
    tls = credentials.channel_credentials() if credentials else None
    if tls is None:
        channel = grpc.insecure_channel(address, options=list(options))
    else:
        target = ("grpc.ssl_target_name_override", name)
        channel = grpc.secure_channel(address, tls, options=[*options, target])
    if credentials is None:
        return channel
    return grpc.intercept_channel(channel, Bearer(credentials.metadata))


class NodeClient:
    """A client of one node; thread-safe (a gRPC channel is)."""

    def __init__(
        self,
        name: str,
        address: str,
        options: ChannelOptions = CLIENT_OPTIONS,
        describe: Callable[[], str] = lambda: "unknown",
        credentials: Credentials | None = None,
    ) -> None:
        self.name, self.address = name, address
        self._describe = describe  # the process's state, for "not answering" errors
        self._channel = open_channel(name, address, credentials, options)
        self.kv = pb_grpc.KVStub(self._channel)
        self.admin = pb_grpc.AdminStub(self._channel)
        self.replication = pb_grpc.ReplicationStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def call(self, method: str, request: Any, timeout: float = TIMEOUT) -> Any:
        """``KV.<method>(request)`` with a deadline; failures as ``ClusterError``s."""
        return self._invoke(getattr(self.kv, method), request, timeout)

    def _invoke(self, rpc: Any, request: Any, timeout: float) -> Any:
        try:
            return rpc(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> NodeRefused | NodeUnreachable:
        call: grpc.Call = exc  # a failed sync call is also its Call
        code, details = call.code(), call.details() or ""
        if code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.FAILED_PRECONDITION,  # stale data: a person must act
        ):
            return NodeRefused(f"{self.name} refused: {details}", code.name, details)
        refused = dict(call.trailing_metadata() or ()).get(REFUSED_KEY)
        if refused:  # the node answered: it takes no writes (decommissioned)
            message = f"{self.name} refused: {details}"
        elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            message = (
                f"{self.name} is not answering at {self.address} ({code.name}: {details}); "
                f"state: {self._describe()}"
            )
        else:
            message = f"{self.name}: {code.name}: {details}"
        return NodeUnreachable(message, code.name, details)

    def serving(self, timeout: float = 1) -> bool:
        """Does the node answer the standard gRPC health check with SERVING? (For polling:
        not reachable is False, not an error.)"""
        try:
            r = self._health.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(r.status == health_pb2.HealthCheckResponse.SERVING)

    def put(self, key: bytes, value: bytes, timeout: float = TIMEOUT) -> pb.Version:
        return self.call("Put", pb.PutRequest(key=key, value=value), timeout).version

    def put_batch(
        self, items: Sequence[tuple[bytes, bytes | None]], timeout: float = TIMEOUT
    ) -> list[pb.Version]:
        request = pb.PutBatchRequest(writes=writes(items))
        return list(self.call("PutBatch", request, timeout).versions)

    def stream_writes(
        self, items: Iterable[tuple[bytes, bytes | None]], timeout: float = TIMEOUT
    ) -> list[pb.WriteResult]:
        """Each put (and, value None, delete) its own write on one ``Writes`` stream, sent
        without waiting (the node holds the stream back past 256 in flight); one result
        per item, in order: its version, or the error that refused it (nothing stored).
        ``timeout`` bounds the whole stream."""
        try:
            return list(self.kv.Writes(iter(writes(items)), timeout=timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def get(self, key: bytes, timeout: float = TIMEOUT) -> pb.GetResponse:
        return self.call("Get", pb.GetRequest(key=key), timeout)

    def delete(self, key: bytes, timeout: float = TIMEOUT) -> pb.Version:
        return self.call("Delete", pb.DeleteRequest(key=key), timeout).version

    def scan(self, prefix: bytes = b"", limit: int = 0, timeout: float = TIMEOUT) -> list[Any]:
        """Every live key under ``prefix`` (at most ``limit``): the node answers in pages
        of about 1 MiB, so a large scan never hits the 4 MiB message limit."""
        items: list[Any] = []
        start = b""
        while True:
            left = limit - len(items) if limit else 0
            request = pb.ScanRequest(prefix=prefix, limit=left, start=start)
            page = self.call("Scan", request, timeout)
            items.extend(page.items)
            if not page.next_key or (limit and len(items) >= limit):
                return items
            start = page.next_key

    def status(self, timeout: float = 5) -> pb.StatusResponse:
        return self.call("Status", pb.StatusRequest(), timeout)

    def set_peers(self, peers: dict[str, str], timeout: float = TIMEOUT) -> pb.SetPeersResponse:
        """Admin.SetPeers: the node's whole outbound peer set, changed live."""
        return self._invoke(self.admin.SetPeers, pb.SetPeersRequest(peers=peers), timeout)

    def set_clock_offset(self, offset_ms: int, timeout: float = TIMEOUT) -> Any:
        """Admin.SetClockOffset: the clock-skew fault (0 puts the clock back)."""
        request = pb.SetClockOffsetRequest(offset_ms=offset_ms)
        return self._invoke(self.admin.SetClockOffset, request, timeout)

    def decommission(self, timeout: float = 30) -> pb.DecommissionResponse:
        """Admin.Decommission: stop taking writes; what each peer holds of its own writes."""
        return self._invoke(self.admin.Decommission, pb.DecommissionRequest(), timeout)
