"""An in-memory replica for the property tests: the shipped decisions (``triage``,
``plan_commit``, the HLC) over dicts instead of LevelDB, so any delivery schedule can be
tried in microseconds while the logic under test stays the one the Store persists."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from node.clock import HLC
from node.pb import remesh_pb2 as pb
from node.protocol import Head, Triage, conflict, plan_commit, triage


class Conflict(AssertionError):
    """Two different writes under one (origin, seq): the invariant the identity scheme keeps."""


class MemoryReplica:
    def __init__(self, node_id: str, origin: str | None = None) -> None:
        self.node_id = node_id
        self.origin = origin or node_id  # the replica id its writes carry
        self.vv: dict[str, int] = {}
        self.log: dict[str, list[pb.Entry]] = {}
        self.state: dict[bytes, pb.Entry] = {}
        self.heads: dict[bytes, Head] = {}
        self.now_ms = 0
        self.clock = HLC(physical=self._physical)
        self.digest = self.keys = self.hlc = 0

    def _physical(self) -> int:
        return self.now_ms

    def write(self, key: bytes, value: bytes | None, physical_ms: int) -> pb.Entry:
        self.now_ms = max(self.now_ms, physical_ms)
        entry = pb.Entry(
            origin=self.origin,
            seq=self.vv.get(self.origin, 0) + 1,
            hlc=self.clock.now(),
            key=key,
            op=pb.DELETE if value is None else pb.PUT,
            value=value or b"",
        )
        self._commit([entry])
        return entry

    def receive(self, entries: Iterable[pb.Entry]) -> Triage:
        result = triage(self.vv, entries)
        dup = conflict(result.duplicate_entries, self.read)
        if dup is not None:
            raise Conflict(f"{self.node_id}: {dup.origin} seq {dup.seq} names two writes")
        if result.accepted:
            self.clock.observe(max(e.hlc for e in result.accepted))
            self._commit(result.accepted)
        return result

    def _commit(self, entries: list[pb.Entry]) -> None:
        plan = plan_commit(entries, self.heads.get, self.digest, self.keys, self.hlc)
        for e in entries:
            self.log.setdefault(e.origin, []).append(e)
        for e, _ in plan.winners:
            self.state[e.key] = e
        self.heads.update(plan.heads)
        self.digest, self.keys, self.hlc = plan.digest, plan.keys, plan.hlc
        self.vv.update(plan.vv)

    def read(self, origin: str, first: int, last: int) -> list[pb.Entry]:
        return self.log.get(origin, [])[first - 1 : last]

    def holds(self, entry: pb.Entry) -> bool:
        return self.read(entry.origin, entry.seq, entry.seq) == [entry]

    def snapshot(self) -> MemoryReplica:
        """A copy of the whole data directory, as a backup would take it."""
        return copy.deepcopy(self)

    def live(self) -> dict[bytes, bytes]:
        return {k: e.value for k, e in self.state.items() if e.op == pb.PUT}
