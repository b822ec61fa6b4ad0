"""The cluster library's errors: what went wrong, worded so a person can act on it.

The kind says whose move it is, not how a program exits (the CLI decides that):
a ``ClusterError`` is bad usage or bad input (fix the command, the file, the
key); an ``OperationFailed`` is an operation or a check that did not succeed
(a node not answering, not ready in time, not converged).
"""

from __future__ import annotations

from typing import Any


class ClusterError(Exception):
    """A problem a person can act on: bad usage or bad input."""


class OperationFailed(ClusterError):
    """An operation or a check failed: the input was fine, the cluster did not oblige."""


class ConvergeTimeout(OperationFailed):
    """Nodes still differ at the deadline; ``report`` holds each node's digest and vv."""

    def __init__(self, message: str, report: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.report = report


class NodeRefused(ClusterError):
    """A node refused a request as invalid (gRPC INVALID_ARGUMENT): nothing changed."""

    def __init__(self, message: str, code: str, details: str) -> None:
        super().__init__(message)
        self.code, self.details = code, details


class NodeUnreachable(OperationFailed):
    """A call failed on the way or on the node: it may or may not have been applied."""

    def __init__(self, message: str, code: str, details: str) -> None:
        super().__init__(message)
        self.code, self.details = code, details
