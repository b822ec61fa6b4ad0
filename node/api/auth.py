"""Authentication: the cluster token every client and peer presents, checked in one place.

``METHODS`` is the one table of what needs the token: every KV, Replication and Admin
method does; the gRPC health service (probes need no secret) and server reflection (the
schema, no data) do not. A method missing from the table needs the token too, so a
method added to the proto is closed until someone decides otherwise (and
``tests/unit/test_auth.py`` fails until the table names it).

``TokenAuth`` is the server interceptor: a call without ``authorization: Bearer <token>``,
or with another token, ends UNAUTHENTICATED before its handler runs, so it changes
nothing. The comparison is constant-time. The token itself is never logged.

Under mutual TLS the certificate says who a caller is: ``certified_name`` reads it from
the call's auth context, so a Replicate stream can be held to the node its certificate
names (``node.api.service``).
"""

from __future__ import annotations

import hmac
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from node.api import challenge
from node.api.bearer import HEADER, MAX_TOKEN_CHARS, SCHEME, TokenError, bearer, check_token
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

__all__ = [
    "METHODS",
    "TOKEN_ENV",
    "ChallengeService",
    "TokenAuth",
    "TokenError",
    "bearer",
    "read_token",
]

log = logging.getLogger("node.api.auth")

TOKEN_ENV = "REMESH_TOKEN_FILE"  # names the token file for the node runner


def _table(service: str, *methods: str, auth: bool = True) -> dict[str, bool]:
    return {f"/{service}/{m}": auth for m in methods}


# Method -> requires the token. tests/unit/test_auth.py checks this against every service
# descriptor the node serves.
METHODS: dict[str, bool] = {
    **_table(
        "remesh.v1.KV", "Put", "PutBatch", "Writes", "Get", "Delete", "Scan", "Watch", "Status"
    ),
    **_table("remesh.v1.Replication", "Replicate"),
    **_table("remesh.v1.Admin", "SetPeers", "Decommission", "SetClockOffset"),
    **_table("remesh.v1.Auth", "Challenge", auth=False),  # how a caller gets to prove it
    **_table("grpc.health.v1.Health", "Check", "List", "Watch", auth=False),
    **_table("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", auth=False),
}


def requires_token(method: str) -> bool:
    """Does ``method`` (``/package.Service/Method``) need the token? Unknown ones do."""
    return METHODS.get(method, True)


def read_token(path: str | Path) -> str:
    """The token in ``path`` (surrounding whitespace ignored). A file others may read is
    used, with a warning: the token is only as secret as the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            raw = f.read(MAX_TOKEN_CHARS + 64)
    except OSError as exc:
        raise TokenError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise TokenError(f"the token file {path} is not a regular file")
    if mode & 0o077:
        log.warning("the token file %s can be read by others (mode %o): chmod 600 it", path, mode)
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"the token file {path}: expected printable ASCII") from None
    return check_token(text, f"the token file {path}")


class TokenAuth(grpc.aio.ServerInterceptor):
    """Refuses, UNAUTHENTICATED, every call that needs the token and lacks it."""

    LOG_EVERY_S = 10.0  # refusals are logged at most this often: a flood costs no disk

    def __init__(self, token: str, cluster: str, node_id: str) -> None:
        self._token = check_token(token).encode()
        self.cluster = cluster
        self.node_id = node_id
        self.issuer = challenge.Issuer(self._token, cluster, node_id)
        self.refused = 0
        self.on_refused: Callable[[], None] = lambda: None  # e.g. count it in the metrics
        self._logged = 0.0

    def renew(self) -> None:
        """A new process secret: every proof presented before (a session) is refused."""
        self.issuer = challenge.Issuer(self._token, self.cluster, self.node_id)

    def problem(self, metadata: Any) -> str | None:
        """Why the call's metadata does not authenticate it, or None when it does."""
        values = [v for k, v in metadata or () if k == HEADER]
        if not values:
            return (
                f"no token: cluster {self.cluster} needs 'authorization: Bearer <token>' "
                f"metadata on every call (the cluster tool keeps the token in its state "
                f"directory, secrets/token)"
            )
        value = values[0] if len(values) == 1 else ""
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if value.startswith(challenge.SCHEME):
            return self.issuer.problem(value)
        presented = value[len(SCHEME) :] if value.startswith(SCHEME) else ""
        # compare_digest takes time independent of where the bytes differ.
        if not hmac.compare_digest(presented.encode("latin-1", "replace"), self._token):
            return f"wrong token for cluster {self.cluster}: use that cluster's secrets/token"
        return None

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or not requires_token(details.method):
            return handler
        problem = self.problem(details.invocation_metadata)
        if problem is None:
            return handler
        self.refused += 1
        self.on_refused()
        now = time.monotonic()
        if now - self._logged >= self.LOG_EVERY_S:
            self._logged = now
            log.warning(
                "%s: refused %s: %s (%d refused so far)",
                self.node_id,
                details.method,
                problem.split(":")[0],
                self.refused,
            )
        return refusal(handler, grpc.StatusCode.UNAUTHENTICATED, f"{self.node_id}: {problem}")


def refusal(handler: Any, code: grpc.StatusCode, message: str) -> Any:
    """A handler of ``handler``'s shape that ends the call with ``code`` and runs nothing."""

    async def refuse(request: Any, context: Any) -> None:
        await context.abort(code, message)

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[bool(handler.request_streaming), bool(handler.response_streaming)]
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class ChallengeService(pb_grpc.AuthServicer):
    """``Auth.Challenge``: this node proves it holds the token (``node.api.challenge``)."""

    def __init__(self, issuer: challenge.Issuer) -> None:
        self.issuer = issuer

    async def Challenge(self, request: pb.ChallengeRequest, context: Any) -> pb.ChallengeResponse:
        try:
            sn, proof = self.issuer.challenge(request.client_nonce)
        except challenge.ChallengeFailed as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.ChallengeResponse(
            cluster=self.issuer.cluster, node_id=self.issuer.node, server_nonce=sn, proof=proof
        )


OPERATOR_PREFIX = "cluster-tool@"  # the operator's certificate: never a node name (no @)


def may_administer(certified: str | None) -> bool:
    """May a caller with this certificate name (None: no TLS) call Admin? Without TLS
    every token holder may; with it only the operator (``cluster.certs.tool_name``)."""
    return certified is None or certified.startswith(OPERATOR_PREFIX)


def certified_name(context: Any) -> str | None:
    """The common name of the caller's verified TLS certificate; None without TLS."""
    auth = context.auth_context() or {}
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    names = auth.get("x509_common_name") or []
    return names[0].decode("utf-8", "replace") if len(names) == 1 else ""
