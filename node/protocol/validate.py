"""The rules every write must pass, whether a client sent it or a peer relayed it.

A peer (or anything answering on a peer's port) is untrusted input: a replicated
entry is checked with the same rules as a local write, plus the rules of the log
(a valid origin, a seq from 1), before anything of its batch is applied, and no file
path is ever built from an origin that did not pass ``ORIGIN_RE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.errors import Refused
from node.protocol.identity import ORIGIN_RE

MAX_SEQ = (1 << 63) - 1


@dataclass(frozen=True)
class WriteLimits:
    max_key_bytes: int
    max_value_bytes: int


def write_problem(op: int, key: bytes, value: bytes, limits: WriteLimits) -> str | None:
    """Why a write is refused, or None when it is fine."""
    if not key:
        return "key must not be empty"
    if len(key) > limits.max_key_bytes:
        return f"key is {len(key)} bytes; the limit is {limits.max_key_bytes} (max_key_bytes)"
    if op not in (pb.PUT, pb.DELETE):
        return f"unknown op {op}; expected PUT or DELETE"
    if op == pb.PUT and len(value) > limits.max_value_bytes:
        return (
            f"value is {len(value)} bytes; the limit is {limits.max_value_bytes} (max_value_bytes)"
        )
    if op == pb.DELETE and value:
        return "a DELETE carries no value"
    return None


def check_batch(
    entries: Sequence[pb.Entry], limits: WriteLimits, own_origin: str, peer: str
) -> None:
    """Refuse the whole batch if any entry is malformed; nothing of it is applied."""
    for e in entries:
        problem = None
        if not ORIGIN_RE.match(e.origin):
            problem = f"bad origin {e.origin[:80]!r}"
        elif e.origin == own_origin:
            problem = f"an entry of this node's own origin {own_origin} (seq {e.seq})"
        elif not 1 <= e.seq <= MAX_SEQ:
            problem = f"seq {e.seq} out of range"
        else:
            problem = write_problem(e.op, e.key, e.value, limits)
        if problem:
            raise Refused(f"{peer} sent a bad entry ({e.origin[:80]} seq {e.seq}): {problem}")
