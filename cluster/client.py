"""One node's client: the one place the cluster tool opens gRPC channels to nodes.

A ``NodeClient`` holds one channel that reconnects quickly (a restarted node is
reachable again within a second, not after gRPC's default backoff that grows to
minutes), puts a deadline on every call, and turns gRPC failures into
``cluster.errors`` that say what to do. The CLI (through ``Cluster``), the
nemesis, the bench and the test workloads all use it. ``kv`` is the raw stub,
for what the typed methods do not cover (futures, streams).

With ``credentials`` (``cluster.secrets.Credentials``) every call on the channel, raw
stubs included, carries a proof of the cluster token (never the token: ``Prover``), and a
TLS cluster is dialled with the tool's certificate, checking that the node's certificate
names the node.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.errors import NodeRefused, NodeUnreachable
from node.api.bearer import HEADER
from node.api.challenge import STALE, ChallengeFailed, prove, prove_aio
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
OPEN_METHODS = ("/grpc.health.v1.", "/grpc.reflection.")  # need no token (node/api/auth.py)
REFUSED_KEY = "remesh-refused"  # trailing metadata of a node's refusal (node/api/gate.py)


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


class Prover(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Presents a proof of the token on every call of a channel, whatever the stub, once
    the process at the far end proved it holds the token (``node.api.challenge``): the token
    itself never leaves this process, so whatever squats on a stopped node's port learns
    nothing it can use. A proof is good for the node process that issued it; after the
    node restarts the next call is refused as stale, the proof is dropped and
    ``NodeClient`` asks again."""

    def __init__(self, channel: grpc.Channel, name: str, credentials: Credentials) -> None:
        self._channel = channel  # not intercepted: the challenge carries no proof
        self._name = name
        self._token = credentials.token.encode()
        self._cluster = credentials.cluster
        self._lock = threading.Lock()
        self._header: str | None = None
        # A connection that drops may come back to another process (a restarted node, or
        # a squatter): prove it again rather than present a proof that process refuses.
        channel.subscribe(self._on_state)

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        if state != grpc.ChannelConnectivity.READY:
            self.forget()

    def forget(self) -> None:
        self._header = None

    def _with(self, details: Any) -> _Details:
        if details.method.startswith(OPEN_METHODS):
            return details  # probes need no proof, and get none
        with self._lock:
            if self._header is None:
                timeout = min(details.timeout or TIMEOUT, TIMEOUT)
                self._header = prove(
                    self._channel, self._token, self._cluster, self._name, timeout
                )
            proof = ((HEADER, self._header),)
        return _Details(
            details.method,
            details.timeout,
            (*(details.metadata or ()), *proof),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with(details), request)

    intercept_unary_stream = intercept_unary_unary
    intercept_stream_unary = intercept_unary_unary
    intercept_stream_stream = intercept_unary_unary


def stale(exc: grpc.RpcError) -> bool:
    """Was the call refused for a proof made for an earlier process of the node?"""
    call: grpc.Call = exc
    return call.code() == grpc.StatusCode.UNAUTHENTICATED and STALE in (
        call.details() or ""
    )


def open_channel(
    name: str,
    address: str,
    credentials: Credentials | None = None,
    options: ChannelOptions = CLIENT_OPTIONS,
) -> grpc.Channel:
    """A channel to node ``name`` at ``address`` that proves it holds ``credentials``."""
    return _open(name, address, credentials, options)[0]


def _open(
    name: str, address: str, credentials: Credentials | None, options: ChannelOptions
) -> tuple[grpc.Channel, Prover | None]:
    tls = credentials.channel_credentials() if credentials else None
    if tls is None:
        channel = grpc.insecure_channel(address, options=list(options))
    else:
        target = ("grpc.ssl_target_name_override", name)
        channel = grpc.secure_channel(address, tls, options=[*options, target])
    if credentials is None:
        return channel, None
    prover = Prover(channel, name, credentials)
    return grpc.intercept_channel(channel, prover), prover


@contextlib.asynccontextmanager
async def aio_channel(
    name: str, address: str, credentials: Credentials | None
) -> AsyncIterator[tuple[grpc.aio.Channel, Any]]:
    """An asyncio channel to node ``name`` and the metadata for its calls: a proof of the
    token once the node proved it holds it (one node process: after a restart the calls
    are refused as stale)."""
    tls = credentials.channel_credentials() if credentials else None
    if tls is None:
        channel = grpc.aio.insecure_channel(address, options=list(CLIENT_OPTIONS))
    else:
        options = [*CLIENT_OPTIONS, ("grpc.ssl_target_name_override", name)]
        channel = grpc.aio.secure_channel(address, tls, options=options)
    async with channel:
        if credentials is None:
            yield channel, None
            return
        token = credentials.token.encode()
        proof = await prove_aio(channel, token, credentials.cluster, name, TIMEOUT)
        yield channel, ((HEADER, proof),)


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
        self._channel, self._prover = _open(name, address, credentials, options)
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
        for attempt in (1, 2):
            try:
                return rpc(request, timeout=timeout)
            except grpc.RpcError as exc:
                if attempt == 1 and self._prover and stale(exc):
                    self._prover.forget()  # the node restarted: prove it again, once
                    continue
                raise self._error(exc) from None
            except ChallengeFailed as exc:
                raise self._impostor(exc) from None
        raise AssertionError("unreachable")

    def _impostor(self, exc: ChallengeFailed) -> NodeRefused:
        """Something answers at the node's address that did not prove it is the node."""
        return NodeRefused(
            f"{self.name}: what answers at {self.address} is not {self.name} of this "
            f"cluster: {exc}. Nothing secret was sent to it; state: {self._describe()}",
            "UNAUTHENTICATED",
            str(exc),
        )

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
            if self._prover and stale(exc):
                self._prover.forget()  # the next call proves it again
            raise self._error(exc) from None
        except ChallengeFailed as exc:
            raise self._impostor(exc) from None

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
