"""The replicated operations, one row each (issue 26): what an op is called, whether it
leaves a live value (counted in the key count and the digest, returned by reads and
scans) or a tombstone (kept until collected, so a delete beats older puts everywhere),
and whether it carries a value. Validation, last-writer-wins, the digest, the state's
tombstone index and compaction ask this table rather than comparing op codes.

A new operation is a row here (and its code in the proto's ``Op``), plus what it does
to a key's head beyond last-writer-wins, if anything; packed snapshot chunks
(``node/protocol/packed.py``) keep puts and tombstones apart and would need a kind for
it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.pb import remesh_pb2 as pb


@dataclass(frozen=True)
class Operation:
    code: int  # the wire's ``Op`` value
    name: str
    live: bool  # its key then holds a value (else a tombstone)
    carries_value: bool  # a value up to max_value_bytes; else it must be empty


OPERATIONS: dict[int, Operation] = {
    o.code: o
    for o in (
        Operation(pb.PUT, "PUT", live=True, carries_value=True),
        Operation(pb.DELETE, "DELETE", live=False, carries_value=False),
    )
}
LIVE = frozenset(code for code, o in OPERATIONS.items() if o.live)  # hot paths: `op in LIVE`
NAMES = " or ".join(o.name for o in OPERATIONS.values())
