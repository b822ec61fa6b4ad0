"""An in-memory replica for the property tests: the shipped decisions (``receive``,
``plan_commit``, the HLC) over dicts instead of LevelDB, so any delivery schedule can be
tried in microseconds while the logic under test stays the one the Store persists."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from node.clock import HLC
from node.pb import remesh_pb2 as pb
from node.protocol import Head, Refused, plan_commit
from node.protocol.compaction import Members, collectable, gc_floor, truncation_points
from node.protocol.receive import Holding, Receipt, Rules, receive
from node.protocol.validate import WriteLimits
from node.protocol.vouch import Known, Taken
from node.settings import NodeSettings

_DEFAULTS = NodeSettings()
LIMITS = WriteLimits(_DEFAULTS.max_key_bytes, _DEFAULTS.max_value_bytes)
MAX_BATCH, MAX_SKEW_MS = _DEFAULTS.max_batch_entries, _DEFAULTS.max_clock_skew_ms


class Conflict(AssertionError):
    """Two different writes under one (origin, seq): the invariant the identity scheme keeps."""


class Stale(AssertionError):
    """An entry new to a replica dated at or below its GC horizon: the receive guard
    refused it (node/protocol/horizon.py). Only stale data may ever trigger it."""


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
        self.tops: dict[str, int] = {}  # per origin: hlc of the entry at vv[origin]
        self.truncated: dict[str, int] = {}  # per origin: log dropped up to this seq
        self.horizon = 0  # newest tombstone collected here or by a snapshot's sender
        # as node/replication/vouched.py: on the origin's own word
        self.vouched: dict[str, int] = {}

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

    def receive(
        self,
        entries: Iterable[pb.Entry],
        peer: str = "a peer",
        wall_ms: int | None = None,
        limits: WriteLimits = LIMITS,
    ) -> Receipt:
        """The shipped pipeline (``node.protocol.receive``), then the commit. ``wall_ms``
        is this replica's clock (default: its newest write's)."""
        rules = Rules(self.origin, self.node_id, limits, MAX_BATCH, MAX_SKEW_MS)
        holding = Holding(self.vv, self.tops, self.horizon, self.read)
        now = self.now_ms if wall_ms is None else wall_ms
        try:
            result = receive(list(entries), peer, rules, holding, now)
        except Refused as exc:
            if exc.reason == "stale":
                raise Stale(f"{self.node_id}: {exc}") from None
            raise
        if result.fork is not None:
            dup = result.fork
            raise Conflict(f"{self.node_id}: {dup.origin} seq {dup.seq} names two writes")
        if result.accepted:
            self.clock.observe(max(e.hlc for e in result.accepted))
            self._commit(result.accepted)
        return result

    def _commit(self, entries: list[pb.Entry]) -> None:
        plan = plan_commit(entries, self.heads.get, self.digest, self.keys, self.hlc)
        for e in entries:
            self.log.setdefault(e.origin, []).append(e)
        self._adopt(plan)
        self.vv.update(plan.vv)
        self.tops.update(plan.tops)

    def _adopt(self, plan) -> None:
        for e, _ in plan.winners:
            self.state[e.key] = e
        self.heads.update(plan.heads)
        self.digest, self.keys, self.hlc = plan.digest, plan.keys, plan.hlc

    def read(self, origin: str, first: int, last: int) -> list[pb.Entry]:
        """Entries first..last still held (a truncated prefix reads as nothing)."""
        base = self.truncated.get(origin, 0)
        return [e for e in self.log.get(origin, []) if first <= e.seq <= last and e.seq > base]

    # ------------------------------------------------ bounded disk (node/storage/trim.py)
    def truncate(self, members: Members, retain: int, pin_timeout_s: float = 0) -> None:
        for origin, t in truncation_points(self.vv, members, retain, pin_timeout_s).items():
            if t.point > self.truncated.get(origin, 0):
                self.truncated[origin] = t.point
                self.log[origin] = [e for e in self.log[origin] if e.seq > t.point]

    def floor(self, members: Members) -> int:
        return gc_floor(self.vv, self.tops, members, self.node_id, self.clock.last)

    def collect(self, members: Members, grace_ms: int) -> int:
        """Drop every tombstone the shipped rule allows; returns how many."""
        floor = self.floor(members)
        gone = [
            k
            for k, e in self.state.items()
            if e.op == pb.DELETE
            and collectable(e.hlc, e.origin, e.seq, floor, members, self.now_ms, grace_ms)
        ]
        for k in gone:
            self.horizon = max(self.horizon, self.state[k].hlc)
            del self.state[k], self.heads[k]
        return len(gone)

    def hlc_at(self, origin: str, seq: int) -> int | None:
        held = self.read(origin, seq, seq)
        return held[0].hlc if held else None

    def take_snapshot(self) -> tuple[dict[str, int], dict[str, int], list[pb.Entry], int]:
        records = [self.state[k] for k in sorted(self.state)]
        return dict(self.vv), dict(self.tops), records, self.horizon

    def known(
        self,
        sender: str,
        said: dict[str, int],
        others: dict[str, int] | None,
        names: frozenset[str],
        wall_ms: int,
    ) -> Known:
        """What it can check a snapshot against (no clock skew, no grace: as ``collect``)."""
        vv, tops = dict(self.vv), dict(self.tops)
        return Known(self.origin, vv, tops, sender, said, others, names, wall_ms, 0, 0)

    def merge_snapshot(self, records: list[pb.Entry], lo: bytes, hi: bytes, taken: Taken) -> None:
        """One chunk, as node/trim.merge_snapshot: LWW merge, covered-and-absent dropped."""
        sent = {r.key for r in records}
        for k in [k for k in self.state if lo <= k and (not hi or k < hi) and k not in sent]:
            e = self.state[k]
            if taken.drops(e.origin, e.seq, e.hlc):
                if e.op == pb.PUT:
                    self.digest ^= self.heads[k][3]
                    self.keys -= 1
                del self.state[k], self.heads[k]
        if records:
            self.clock.observe(max(r.hlc for r in records))
        self._adopt(plan_commit(records, self.heads.get, self.digest, self.keys, self.hlc))

    def vouch(self, marks: dict[str, int]) -> None:
        """Raise the vouched marks (node/replication/vouched.py), within what it holds."""
        for origin, said in marks.items():
            seq = min(said, self.vv.get(origin, 0))
            if seq > self.vouched.get(origin, 0):
                self.vouched[origin] = seq

    def vouches(self) -> dict[str, int]:
        """What its heartbeats vouch for: its own writes, and each mark within its vv."""
        out = {o: min(m, self.vv.get(o, 0)) for o, m in self.vouched.items()}
        return {**out, self.origin: self.vv.get(self.origin, 0)}

    def finish_snapshot(self, taken: Taken, tops) -> None:
        self.horizon = max(self.horizon, taken.horizon)
        for origin, seq in taken.moved.items():
            if origin != self.origin and seq > self.vv.get(origin, 0):
                self.vv[origin] = seq
                self.truncated[origin] = seq
                self.tops[origin] = tops[origin]
                self.log[origin] = []
        self.vouch(taken.vouched)

    def holds(self, entry: pb.Entry) -> bool:
        return self.read(entry.origin, entry.seq, entry.seq) == [entry]

    def snapshot(self) -> MemoryReplica:
        """A copy of the whole data directory, as a backup would take it."""
        return copy.deepcopy(self)

    def live(self) -> dict[bytes, bytes]:
        return {k: e.value for k, e in self.state.items() if e.op == pb.PUT}
