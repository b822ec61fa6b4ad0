"""Refusals as gRPC statuses: the one place an error becomes a status code and a message
a person can act on (the KV handlers, the Writes stream and replication all use it)."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from node.protocol import ProtocolError
from node.replica import BadRequest, CommitFailed, Fenced

# What a client write may be refused with (each maps to its own status below).
REFUSALS = (BadRequest, CommitFailed, Fenced)

_KINDS = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "permission": grpc.StatusCode.PERMISSION_DENIED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status for a refusal: the only place errors become status codes."""
    if isinstance(exc, BadRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, CommitFailed):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, Fenced):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, ProtocolError):
        return _KINDS[exc.kind], str(exc)
    return grpc.StatusCode.UNAVAILABLE, f"{type(exc).__name__}: {exc}"


async def abort(context: Any, exc: BaseException) -> NoReturn:
    await context.abort(*status_of(exc))
    raise AssertionError("unreachable: abort raises")
