"""Per-origin hash chains: what binds a log entry to the history of its origin.

Every node keeps, for every origin, ``c_s = H(c_{s-1} || entry_s)`` over the entries it
holds (``c_0`` a hash of the origin's name; H is blake2b-128; the entry as its proto3
encoding, fields in number order and unknown fields discarded on receipt, which is
canonical for ``Entry``: no maps, no repeated fields). Two nodes holding one content
for ``(origin, 1..s)`` hold the same ``c_s``; any difference at or below ``s`` (a
forged entry, a relay that changed one) makes them differ from there on. So comparing
the values at one seq, carried in Hello, Welcome and Heartbeat, finds a fork wherever
it is below, and the origin's own chain is the reference (docs/integrity.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from node.protocol.errors import Refused
from node.protocol.validate import check_vv

CHAIN_BYTES = 16
Lookup = Callable[[str, int], "bytes | None"]  # (origin, seq) -> this node's c_seq, or unknown


def genesis(origin: str) -> bytes:
    """``c_0`` of ``origin``: its name, so no two origins share a chain."""
    return hashlib.blake2b(b"remesh-chain\0" + origin.encode(), digest_size=CHAIN_BYTES).digest()


def link(prev: bytes, raw: bytes) -> bytes:
    """``c_s`` from ``c_{s-1}`` and entry s's encoding (``Entry.SerializeToString()``)."""
    return hashlib.blake2b(prev + raw, digest_size=CHAIN_BYTES).digest()


def extend(prev: bytes, raws: list[bytes]) -> bytes:
    """The chain value after ``raws``, in seq order, starting from ``prev``."""
    for raw in raws:
        prev = hashlib.blake2b(prev + raw, digest_size=CHAIN_BYTES).digest()
    return prev


def check_chains(chains: Mapping[str, bytes], vv: Mapping[str, int], what: str, peer: str) -> None:
    """A peer's chain values: one per origin of its vv at most, each CHAIN_BYTES long."""
    check_vv(vv, f"{what} vv", peer)
    for origin, value in chains.items():
        if origin not in vv:
            raise Refused(f"{peer} sent {what} chain value for {origin[:80]!r}, not in its vv")
        if len(value) != CHAIN_BYTES:
            raise Refused(
                f"{peer} sent {what} chain value of {len(value)} bytes for {origin}; "
                f"expected {CHAIN_BYTES}"
            )


def compare(
    vv: Mapping[str, int], chains: Mapping[str, bytes], have: Mapping[str, int], mine: Lookup
) -> list[tuple[str, int, bool]]:
    """Where a peer's chain values (at its ``vv``) can be checked against this node's:
    ``(origin, seq, equal)`` for every origin where this node holds that seq and knows
    its own value there (a seq it does not hold is the peer's to check, the other way)."""
    out = []
    for origin, theirs in chains.items():
        seq = vv.get(origin, 0)
        if seq == 0 or seq > have.get(origin, 0):
            continue
        ours = mine(origin, seq)
        if ours is not None:
            out.append((origin, seq, ours == theirs))
    return out
