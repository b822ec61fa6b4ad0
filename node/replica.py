"""The replica: store, clock and watermarks behind one asyncio-facing object.

It owns the write path (local writes grouped into one WriteBatch per turn of
the event loop: group commit, so sync mode stays fast), the apply path for
replicated batches, change notification for replication streams and Watch
clients, and the periodic watermark checkpoint. It does no networking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from node.clock import HLC, LOGICAL_BITS, wall_ms
from node.config import NodeConfig
from node.incarnation import Incarnation
from node.observability.metrics import NodeMetrics
from node.pb import remesh_pb2 as pb
from node.protocol import Held, Identity, PeerFailed, Refused
from node.protocol.receive import Holding, Rules, receive
from node.protocol.validate import WriteLimits, write_problem
from node.replication import snapshots
from node.replication.integrity import Host as IntegrityHost
from node.replication.integrity import Integrity
from node.replication.links import Links
from node.replication.recent import Recent
from node.replication.vouched import Vouched
from node.replication.watch import Watchers
from node.storage.checkpoints import Checkpoints
from node.storage.compactor import Compactor
from node.storage.health import StorageHealth
from node.storage.store import Record, Store
from node.storage.watermarks import Watermarks

log = logging.getLogger("node.replica")

# A restarted node that held data waits this many link timeouts for every peer's
# Welcome before it gives up asking and writes as a new incarnation.
REJOIN_TIMEOUT_LINKS = 3
PEER_META = b"peer/"  # + peer name: its replica id as last seen
MAX_REQUEST_BYTES = 16 << 20  # keys and values of one client request
GROUP_COMMIT_ENTRIES = 4096  # one WriteBatch takes at most this many queued writes
LATENCY_SAMPLES = 16  # apply-latency observations per replicated batch at most


class BadRequest(ValueError):
    """Input the node refuses; nothing was written. Maps to INVALID_ARGUMENT."""


class CommitFailed(RuntimeError):
    """The WriteBatch of a group of local writes failed (disk full, I/O error): none of
    them was acknowledged, nor written unless a sync failed after the write (LevelDB
    then leaves that unknown). Maps to UNAVAILABLE; the client may retry."""


class Fenced(RuntimeError):
    """This node may not take writes until a person acts (its data is stale): nothing
    was written. Maps to FAILED_PRECONDITION: retrying here cannot help."""


class Replica:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.node_id = config.node_id
        self.store = Store(config.data_dir, config.write_buffer_kib * 1024)
        self.watermarks = Watermarks(config.data_dir)
        self.recovered_from = self.watermarks.load()
        scanned = self.store.recover(self.recovered_from)
        if any(scanned.values()):
            log.info(
                "%s recovered %d entries past the watermark: %s",
                self.node_id,
                sum(scanned.values()),
                scanned,
            )
        # chains compared with peers' (docs/integrity.md)
        self.integrity = Integrity(self.store, self._integrity_host(config.node_id))
        self.vouched = Vouched(self.store)  # what it may vouch for (node/replication/vouched.py)
        self.clock_offset_ms = 0  # a test fault shifts this node's physical clock
        self.clock = HLC(last=self.store.hlc, physical=self.wall_ms)
        self.limits = WriteLimits(config.max_key_bytes, config.max_value_bytes)
        self.max_request_bytes = max(
            MAX_REQUEST_BYTES, config.max_value_bytes + config.max_key_bytes
        )
        self.incarnation = Incarnation(self.store, config.node_id, config.peers)
        self.health = StorageHealth(config.node_id)
        self.links = Links(config.peers, self._known_peers(config.peers))
        self.watchers = Watchers()
        self.stats = {
            "entries_received": 0,
            "duplicates_received": 0,
            "early_dropped": 0,
            "entries_sent": 0,
            "local_writes": 0,
        }
        # what /metrics serves beyond stats (node.observability.exposition)
        self.metrics = NodeMetrics()
        self.metrics.watermark_current_at = time.monotonic()  # as loaded
        self.wakers: set[asyncio.Event] = set()  # one per replication stream
        self.recent = Recent()
        self._queue: list[tuple[list[pb.Write], asyncio.Future]] = []
        self._commit_task: asyncio.Task | None = None
        self.compactor = Compactor(
            self.store,
            config,
            lambda: self.links.member_acks(config.peers),
            self.clock,
            self.wall_ms,
            lambda: self.closed,
        )
        self._compacting: asyncio.Task | None = None
        self.checkpoints = Checkpoints(
            self.store, self.watermarks, self.health, self.metrics, config, self.compactor
        )
        self._checkpointer: asyncio.Task | None = None
        self.stats_snapshots = {"sent": 0, "received": 0}
        self.snapshot_note = ""  # the last snapshot sent or received, or one under way
        self.snapshot_from = ""  # the peer whose snapshot is being merged (one at a time)
        snapshots.interrupted(self)
        self.decommissioned = False  # leaving the cluster: takes no writes (node.api.admin)
        self.closed = False
        self.stopping = False  # streams end themselves before the server stops

    def _integrity_host(self, node_id: str) -> IntegrityHost:
        def replica_id_of(peer: str) -> str:
            known = self.links.outbound.get(peer)
            return known.replica_id if known else ""

        def busy() -> str:
            merging = self.snapshot_from
            return f"a snapshot from {merging} is being merged" if merging else ""

        return IntegrityHost(
            node_id, lambda: self.origin, self.read_log, replica_id_of, busy, self._rewound
        )

    def _rewound(self, origin: str) -> None:
        """A forked range of ``origin`` was dropped and the state rebuilt
        (node.replication.integrity)."""
        self.recent.forget(origin)
        self.watchers.interrupt(
            f"{self.node_id} dropped a forked range of {origin} and rebuilt its state: "
            f"the changes are not sent as events; read what you need and watch again"
        )
        self.links.changed()  # every link says Hello again from the new vv
        self.checkpoint()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._checkpointer = asyncio.create_task(self.checkpoints.loop())
        self._compacting = asyncio.create_task(self.compactor.run())
        if not self.incarnation.ready.is_set() or self.incarnation.withholding:
            asyncio.get_running_loop().call_later(
                REJOIN_TIMEOUT_LINKS * self.timeout_s, self._rejoin_timeout
            )

    def decommission(self) -> None:
        """Leaving the cluster (``Admin.Decommission``): no writes, and status says so."""
        self.decommissioned = True

    def wall_ms(self) -> int:
        """This node's physical clock: the wall clock plus any injected skew."""
        return wall_ms() + self.clock_offset_ms

    @property
    def timeout_s(self) -> float:
        return self.config.link_timeout_ms / 1000

    @property
    def origin(self) -> str:
        """The origin of this node's writes: its replica id."""
        return self.incarnation.origin

    @property
    def identity(self) -> Identity:
        c = self.config
        return Identity(c.node_id, c.cluster, c.tenant, self.incarnation.origin)

    def _known_peers(self, peers: Iterable[str]) -> dict[str, str]:
        known = {}
        for peer in peers:
            raw = self.store.get_meta(PEER_META + peer.encode())
            if raw is not None:
                known[peer] = raw.decode()
        return known

    def on_welcome(self, peer: str, replica_id: str, vv: dict[str, int], horizon: int = 0) -> None:
        """A peer welcomed us: learn its incarnation; maybe settle ours."""
        if self.links.learned(peer, replica_id):
            self.store.set_meta(PEER_META + peer.encode(), replica_id.encode())
        self.vouched.heard(replica_id, vv, self.vv)  # its word on its own log
        withholding = self.incarnation.withholding
        if self.incarnation.on_welcome(peer, vv, horizon):
            self.links.changed()  # every link says Hello again as the new incarnation

        if withholding and not self.incarnation.withholding:
            self._wake_senders()

    def _wake_senders(self) -> None:
        for wake in self.wakers:
            wake.set()

    def _rejoin_timeout(self) -> None:
        if self.incarnation.on_timeout():
            self.links.changed()
        self._wake_senders()

    def begin_shutdown(self) -> None:
        """Ask every replication and Watch stream to finish, so none is cut mid-call."""
        self.stopping = True
        self._wake_senders()
        self.watchers.close_all()

    async def close(self) -> None:
        """Flush pending writes, checkpoint, close LevelDB."""
        if self.closed:
            return
        while self._queue or (self._commit_task and not self._commit_task.done()):
            if self._commit_task:
                await self._commit_task
            if self._queue:
                self._schedule_commit()
        if self._checkpointer:
            self._checkpointer.cancel()
        if self._compacting:
            self._compacting.cancel()
        await self.compactor.drain()
        await self.checkpoints.settle()  # threads that may still use LevelDB: done first
        try:
            self.checkpoint()
        except Exception as exc:  # noqa: BLE001 - the next start rescans the log instead
            log.error("%s: final watermark checkpoint failed: %s", self.node_id, exc)
        self.closed = True
        for wake in self.wakers:
            wake.set()
        self.store.close()

    @property
    def vv(self) -> dict[str, int]:
        return self.store.vv

    # ------------------------------------------------------------- local writes
    def validate(self, op: int, key: bytes, value: bytes) -> None:
        problem = write_problem(op, key, value, self.limits)
        if problem:
            raise BadRequest(problem)

    async def write(self, writes: Sequence[pb.Write]) -> list[pb.Version]:
        """Apply local writes atomically; returns once they are committed.

        Every write is validated first: one bad write refuses the whole request.
        """
        if self.closed:
            raise RuntimeError("replica is closed")
        try:
            self._check_request(writes)
        except BadRequest:
            self.metrics.reject("bad_request")
            raise
        if not self.incarnation.ready.is_set():
            await self.incarnation.ready.wait()  # recovering: at most the rejoin timeout
        if self.incarnation.stale:
            raise Fenced(f"{self.node_id} holds stale data: {self.incarnation.stale}")
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((list(writes), fut))
        self._schedule_commit()
        return await fut

    def _check_request(self, writes: Sequence[pb.Write]) -> None:
        if not writes:
            raise BadRequest("no writes given")
        if len(writes) > self.config.max_batch_entries:
            raise BadRequest(
                f"{len(writes)} writes in one request; the limit is "
                f"{self.config.max_batch_entries} (max_batch_entries): split it"
            )
        size = 0
        for w in writes:
            self.validate(w.op, w.key, w.value)
            size += len(w.key) + len(w.value)
        if size > self.max_request_bytes:
            raise BadRequest(
                f"{size} bytes in one request; the limit is {self.max_request_bytes}: split it"
            )

    def _schedule_commit(self) -> None:
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.create_task(self._commit_pending())

    async def _commit_pending(self) -> None:
        await asyncio.sleep(0)  # one loop turn: concurrent requests join this batch
        while self._queue:
            self._commit_group(self._take_group())
            if self._queue:
                await asyncio.sleep(0)  # let the loop breathe between groups

    def _take_group(self) -> list[tuple[list[pb.Write], asyncio.Future[list[pb.Version]]]]:
        """The next requests to commit together, at most GROUP_COMMIT_ENTRIES writes (or
        one request), so a burst is several short commits, not one that stalls the loop
        (and the heartbeats) for seconds."""
        taken = n = 0
        queue = self._queue
        while taken < len(queue) and (n == 0 or n + len(queue[taken][0]) <= GROUP_COMMIT_ENTRIES):
            n += len(queue[taken][0])
            taken += 1
        group, self._queue = queue[:taken], queue[taken:]
        return group

    def _commit_group(
        self, group: list[tuple[list[pb.Write], asyncio.Future[list[pb.Version]]]]
    ) -> None:
        """One WriteBatch for the group; each writer is answered only after it commits."""
        entries: list[pb.Entry] = []
        origin = self.origin
        seq = self.vv.get(origin, 0)
        for writes, _ in group:
            for w in writes:
                seq += 1
                entries.append(
                    pb.Entry(
                        origin=origin,
                        seq=seq,
                        hlc=self.clock.now(),
                        op=w.op,
                        key=w.key,
                        value=w.value,
                    )
                )
        sync = self.config.durability == "sync"
        try:
            self.store.check_dir()
            started = time.perf_counter()
            won = self.store.commit(entries, sync=sync)
            self.metrics.committed("local", len(entries), time.perf_counter() - started)
        except Exception as exc:  # disk full, closed DB...: fail the writers, keep serving
            log.error("%s commit of %d local writes failed: %s", self.node_id, len(entries), exc)
            self.health.failed(str(exc))
            # A failed fsync can leave the write in LevelDB's log (Store.reopen finds it).
            outcome = "nothing was written"
            if sync:
                outcome = "it may or may not be on disk: a failed sync leaves that unknown"
            failure = CommitFailed(f"{self.node_id}: storage commit failed ({exc}); {outcome}")
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(failure)
            return
        self.stats["local_writes"] += len(entries)
        i = 0
        for writes, fut in group:
            versions = [
                pb.Version(hlc=e.hlc, origin=e.origin, seq=e.seq)
                for e in entries[i : i + len(writes)]
            ]
            i += len(writes)
            if not fut.done():
                fut.set_result(versions)
        self._after_commit(entries, won)

    # ------------------------------------------------------- replicated batches
    def apply_remote(self, entries: Sequence[pb.Entry], peer: str) -> int:
        """Store what is next in line from a peer's batch; returns how many were new.

        ``receive`` (node/protocol/receive.py) judges it: a malformed entry, or one whose
        (origin, seq) we already hold with other content, refuses all of it (``Refused``).
        """
        c = self.config
        rules = Rules(
            self.origin, self.node_id, self.limits, c.max_batch_entries, c.max_clock_skew_ms
        )
        holding = Holding(self.store.vv, self.store.tops, self.store.horizon, self.read_log)
        try:
            result = receive(entries, peer, rules, holding, self.wall_ms())
        except (Refused, Held) as exc:
            self.metrics.reject(exc.reason)
            raise
        dup = result.fork
        if dup is not None:
            self.metrics.reject("conflict")
            if self.integrity.conflict(peer, dup):  # the peer is its origin: repaired
                raise PeerFailed(f"{dup.origin}: a forked range was dropped; saying Hello again")
            raise Refused(
                f"{peer} sent {dup.origin} seq {dup.seq} with other content than this "
                f"node holds: a fork (two writes under one (origin, seq)); refusing its batches"
            )
        if result.accepted:
            self.clock.observe(max(e.hlc for e in result.accepted))
        self.stats["duplicates_received"] += result.duplicates
        self.stats["early_dropped"] += result.early
        if not result.accepted:
            return 0
        try:
            self.store.check_dir()
            started = time.perf_counter()
            won = self.store.commit(result.accepted)
            took = time.perf_counter() - started
        except Exception as exc:  # the link retries; the entries stay in their origin's log
            self.health.failed(str(exc))
            raise Held(f"cannot store entries from {peer}: {exc}") from None
        n = len(result.accepted)
        self.stats["entries_received"] += n
        self.links.received(peer, n)
        self._measure_apply(result.accepted, peer, took)
        self._after_commit(result.accepted, won)
        return n

    def _measure_apply(self, applied: list[pb.Entry], peer: str, took: float) -> None:
        """Metrics of one applied batch. Apply latency from at most LATENCY_SAMPLES entries
        spread over the batch, each weighing for its share: a few field reads per batch
        rather than one per entry."""
        m = self.metrics
        n = len(applied)
        m.committed("replicated", n, took)
        m.received_entries.add(peer, n)
        now = self.wall_ms()
        step = -(-n // LATENCY_SAMPLES)  # ceil
        for i in range(0, n, step):
            ms = applied[i].hlc >> LOGICAL_BITS
            m.apply_latency.observe_many(max(0, now - ms) / 1000, min(step, n - i))

    def _after_commit(self, entries: list[pb.Entry], won: list[bool]) -> None:
        self.recent.add(entries)
        for wake in self.wakers:
            wake.set()
        self.watchers.publish(entries, won)
        self.checkpoints.count(len(entries))

    def after_snapshot(self) -> None:
        """A snapshot moved the vv: streams and Watch clients learn, a checkpoint records it."""
        for wake in self.wakers:
            wake.set()
        self.checkpoint()

    # -------------------------------------------------------------------- reads
    def get(self, key: bytes) -> Record | None:
        return self.store.get(key)

    def read_log(self, origin: str, first: int, last: int) -> list[pb.Entry]:
        """Entries ``first..last`` of ``origin``: from memory when recent, else LevelDB."""
        got = self.recent.get(origin, first, last)
        return got if got is not None else self.store.read_log(origin, first, last)

    # --------------------------------------------------------------- watermarks
    def checkpoint(self) -> None:
        """Sync LevelDB, then record the vv (node.storage.checkpoints), on the loop."""
        self.checkpoints.now()
