"""The subscriber's side of a snapshot, as a state machine: Begin, chunks, End.

A snapshot is untrusted input like any batch: its vv and tops are bounded and well
formed, every record passes the rules of a write, and chunks come in strictly rising
key order, each record inside the range its chunk covers (``lo <= key < end``). The
caller merges each chunk as it comes (node/storage/trim.py) and commits the vv only on End.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.pb import remesh_pb2 as pb
from node.protocol.errors import Refused
from node.protocol.packed import Unpacked, unpack_chunk
from node.protocol.validate import WriteLimits, check_batch, check_vv


@dataclass
class SnapshotReceiver:
    peer: str
    limits: WriteLimits
    vv: dict[str, int] = field(default_factory=dict)
    tops: dict[str, int] = field(default_factory=dict)
    horizon: int = 0  # the sender's GC horizon (SnapshotBegin)
    expected: int = 0
    records: int = 0
    lo: bytes = b""
    active: bool = False
    done: bool = False  # the last chunk (end empty) came
    unpacked: Unpacked | None = None  # the last chunk's records, when it came packed

    def on_begin(self, msg: pb.SnapshotBegin) -> None:
        if self.active:
            raise Refused(f"{self.peer} began a snapshot inside another")
        check_vv(msg.vv, "a snapshot vv", self.peer)
        check_vv(msg.tops, "snapshot tops", self.peer)
        self.vv, self.tops, self.expected = dict(msg.vv), dict(msg.tops), msg.records
        self.horizon = msg.gc_horizon
        self.records, self.lo, self.active, self.done = 0, b"", True, False

    def on_chunk(self, msg: pb.SnapshotChunk) -> tuple[bytes, bytes]:
        """Check a chunk; returns the key range ``(lo, end)`` it covers. A packed chunk's
        records are left in ``unpacked`` (None after a chunk of ``records``)."""
        if not self.active or self.done:
            raise Refused(f"{self.peer} sent a snapshot chunk outside a snapshot")
        lo, end = self.lo, msg.end
        if end and end <= lo:
            raise Refused(f"{self.peer} sent snapshot chunks out of key order")
        self.unpacked = None
        if msg.packed:
            if msg.records:
                raise Refused(f"{self.peer} sent a snapshot chunk both packed and not")
            self.unpacked = unpack_chunk(msg.packed, lo, end, self.limits, self.peer)
            self.records += len(self.unpacked.records)
            self.lo, self.done = end, not end
            return lo, end
        check_batch(msg.records, self.limits, "", self.peer, "snapshot record")
        prev = None
        for rec in msg.records:
            if rec.key < lo or (end and rec.key >= end) or (prev is not None and rec.key <= prev):
                raise Refused(f"{self.peer} sent a snapshot record outside its chunk's key range")
            prev = rec.key
        self.records += len(msg.records)
        self.lo = end
        self.done = not end
        return lo, end

    def on_end(self, msg: pb.SnapshotEnd) -> None:
        if not self.active or not self.done:
            raise Refused(f"{self.peer} ended a snapshot before its last chunk")
        if msg.records != self.records:
            raise Refused(f"{self.peer} said {msg.records} snapshot records, sent {self.records}")
        self.active = False
