"""The rules every write must pass, whether a client sent it or a peer relayed it.

A peer (or anything answering on a peer's port) is untrusted input: a replicated
entry is checked with the same rules as a local write, plus the rules of the log
(a valid origin, a seq from 1), before anything of its batch is applied, and no file
path is ever built from an origin that did not pass ``ORIGIN_RE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.errors import Held, Refused
from node.protocol.hlc import unpack
from node.protocol.identity import ORIGIN_RE
from node.protocol.ops import NAMES, OPERATIONS

MAX_SEQ = (1 << 63) - 1
MAX_ORIGINS = 4096  # origins a peer may name in one vv or exclude list
# A received batch may hold max(max_batch_entries, this) entries: a peer configured with
# a larger max_batch_entries than ours is still heard, and one batch stalls us briefly.
RECEIVED_ENTRIES_FLOOR = 10_000


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
    operation = OPERATIONS.get(op)
    if operation is None:
        return f"unknown op {op}; expected {NAMES}"
    if not operation.carries_value:
        return f"a {operation.name} carries no value" if value else None
    if len(value) > limits.max_value_bytes:
        return (
            f"value is {len(value)} bytes; the limit is {limits.max_value_bytes} (max_value_bytes)"
        )
    return None


def check_batch(
    entries: Sequence[pb.Entry],
    limits: WriteLimits,
    own_origin: str,
    peer: str,
    what: str = "entry",
    max_entries: int = 0,
    held: tuple[Mapping[str, int], Mapping[str, int]] | None = None,
) -> None:
    """Refuse the whole batch if any entry is malformed; nothing of it is applied.
    ``own_origin`` empty: this node's own origin is allowed (snapshot records).
    ``max_entries``: more is refused as too large (one batch must not stall the node).
    ``held`` (this node's vv and tops): each origin's HLC must rise with its seq, within
    the batch and past the entry held (every node dates its writes with a rising clock,
    and log truncation bisects on it)."""
    if max_entries and len(entries) > max_entries:
        raise Refused(
            f"{peer} sent a batch of {len(entries)} entries; this node accepts at most "
            f"{max_entries} (max_batch_entries, and at least {RECEIVED_ENTRIES_FLOOR})",
            "exhausted",
        )
    good_origins: set[str] = set()  # a batch is mostly one or two origins: match each once
    vv, tops = held or ({}, {})
    seqs: dict[str, int] = {}  # per origin: the highest seq of the batch so far
    hlcs: dict[str, int] = {}  # and its hlc
    for e in entries:
        origin, seq, hlc = e.origin, e.seq, e.hlc
        problem = None
        if origin not in good_origins and not ORIGIN_RE.match(origin):
            problem = f"bad origin {origin[:80]!r}"
        elif own_origin and origin == own_origin:
            problem = f"an entry of this node's own origin {own_origin} (seq {seq})"
        elif not 1 <= seq <= MAX_SEQ:
            problem = f"seq {seq} out of range"
        elif not hlc:
            problem = "hlc 0 (every write is dated after the epoch)"
        else:
            problem = write_problem(e.op, e.key, e.value, limits)
        if problem:
            raise Refused(f"{peer} sent a bad {what} ({origin[:80]} seq {seq}): {problem}")
        good_origins.add(origin)
        if held is None:
            continue
        top = seqs.get(origin)
        if top is None:
            top, top_hlc = vv.get(origin, 0), tops.get(origin, 0)
        else:
            top_hlc = hlcs[origin]
        if seq > top:
            if hlc <= top_hlc:
                raise Refused(
                    f"{peer} sent {origin} seq {seq} dated {hlc}, not after seq {top} "
                    f"dated {top_hlc}: an origin's clock must rise with its seq"
                )
            seqs[origin], hlcs[origin] = seq, hlc


def check_received(
    entries: Sequence[pb.Entry],
    limits: WriteLimits,
    own_origin: str,
    peer: str,
    max_batch_entries: int,
    held: tuple[Mapping[str, int], Mapping[str, int]],
) -> None:
    """A peer's batch, before anything of it is applied: bounded in entries (its bytes
    are bounded by the gRPC message limit), every entry well formed, every origin's
    clock rising with its seq past ``held`` (this node's vv and tops)."""
    most = max(max_batch_entries, RECEIVED_ENTRIES_FLOOR)
    check_batch(entries, limits, own_origin, peer, max_entries=most, held=held)


def check_skew(entries: Sequence[pb.Entry], wall_ms: int, max_skew_ms: int, peer: str) -> None:
    """Hold the batch if an entry is dated more than ``max_skew_ms`` ahead of ``wall_ms``.

    Observing such an entry would drag this node's clock (and every later write's
    version) into the future for good, and a write made later in real time would then
    silently lose last-writer-wins against it.
    """
    if entries:
        worst = max(entries, key=lambda e: e.hlc)
        check_skew_hlc(worst.hlc, worst.origin, wall_ms, max_skew_ms, peer)


def check_skew_hlc(hlc: int, origin: str, wall_ms: int, max_skew_ms: int, peer: str) -> None:
    """``check_skew`` for the newest version of a batch, ``hlc`` written by ``origin``."""
    ahead = unpack(hlc)[0]
    if ahead > wall_ms + max_skew_ms:
        raise Held(
            f"clock skew: {origin} is {(ahead - wall_ms) / 1000:,.0f} s ahead of this "
            f"node's clock (max_clock_skew_ms {max_skew_ms}); holding the link from {peer} "
            f"until it falls back"
        )


def check_vv(vv: Mapping[str, int], what: str, peer: str) -> None:
    """A vv or origin list a peer sent: bounded in size, every origin well formed."""
    if len(vv) > MAX_ORIGINS:
        raise Refused(f"{peer} sent {what} of {len(vv)} origins; the limit is {MAX_ORIGINS}")
    for origin, seq in vv.items():
        if not ORIGIN_RE.match(origin):
            raise Refused(f"{peer} sent a bad origin {origin[:80]!r} in {what}")
        if not 0 <= seq <= MAX_SEQ:
            raise Refused(f"{peer} sent seq {seq} for {origin} in {what}")


def check_origins(origins: Sequence[str], what: str, peer: str) -> None:
    check_vv(dict.fromkeys(origins, 0), what, peer)
