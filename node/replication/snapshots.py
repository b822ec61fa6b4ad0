"""Snapshot bootstrap over the Replicate stream, both ends (docs/compaction.md).

A server whose log no longer holds what a subscriber lacks sends it the state: Begin
(the vv and per-origin tops it corresponds to), chunks of records in key order, End;
then log streaming resumes from that vv. Memory is one chunk on each side: the server
reads a LevelDB snapshot page by page and each ``yield`` waits for gRPC's flow
control; the subscriber merges a chunk before it reads the next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from node.pb import remesh_pb2 as pb
from node.protocol.chain import check_chains
from node.protocol.compaction import needs_snapshot, snapshot_cheaper
from node.protocol.errors import Held, PeerFailed, Refused
from node.protocol.server import ServerSession
from node.protocol.snapshot import SnapshotReceiver
from node.protocol.validate import check_skew, check_skew_hlc
from node.protocol.vouch import Known, Taken, judge
from node.storage import chains
from node.storage.store import META
from node.storage.trim import (
    SNAPSHOT_META,
    finish_snapshot,
    merge_packed,
    merge_snapshot,
    snapshot_pages,
)

if TYPE_CHECKING:
    from node.replica import Replica

log = logging.getLogger("node.replication.snapshots")

CHUNK_BYTES = 2 << 20


class Busy(PeerFailed):
    """Another peer's snapshot is being merged: the link that was refused one asks again
    once that one ended (``wait_turn``), not on its reconnect backoff, which restarted the
    sender's whole snapshot up to four times a second (issue 25 item 8)."""


async def wait_turn(replica: Replica, peer: str, poll_s: float = 0.05) -> None:
    """Until no other peer's snapshot is being merged (it completes, or its stream ends)."""
    while replica.snapshot_from not in ("", peer) and not replica.stopping:
        await asyncio.sleep(poll_s)


def reason(replica: Replica, session: ServerSession) -> str:
    """Why this subscriber is sent the state rather than the log ("": it is not): the
    log no longer holds where it stands, or it lacks so many entries that the state is
    the smaller catch-up (``snapshot_lag_ratio``)."""
    cursor, store = session.cursor, replica.store
    behind = needs_snapshot(cursor.pos, store.truncated, cursor.subscriber)
    if behind:
        return f"its log is truncated past where {session.peer} stands on {','.join(behind)}"
    lag, records = cursor.unsent(replica.vv), store.keys + store.tombs
    if snapshot_cheaper(lag, records, replica.config.snapshot_lag_ratio):
        return (
            f"{session.peer} lacks {lag:,} log entries, more than "
            f"{replica.config.snapshot_lag_ratio:g} x the {records:,} records it would be sent"
        )
    return ""


async def serve(
    replica: Replica, session: ServerSession, why: str
) -> AsyncGenerator[pb.ServerMessage, None]:
    """The snapshot messages for one subscriber, throttled to ``snapshot_rate_keys``;
    ``why`` is said in the log."""
    cfg = replica.config
    chunk = cfg.snapshot_chunk_keys
    if cfg.snapshot_rate_keys:  # small enough that a chunk goes out every heartbeat
        chunk = max(1, min(chunk, int(cfg.snapshot_rate_keys * cfg.heartbeat_ms / 1000)))
    horizon = replica.store.horizon  # read with the LevelDB snapshot: the keys it omits
    vv, tops, records, pages = snapshot_pages(replica.store, chunk, CHUNK_BYTES, session.packed)
    heads = chains.heads(replica.store)  # same loop turn as the vv: the chains at it
    peer = session.peer
    log.info(
        "%s: sending %s a snapshot of %d records at vv %s (%s)",
        replica.node_id,
        peer,
        records,
        vv,
        why,
    )
    replica.snapshot_note = f"sending to {peer}: 0/{records} records"
    started = time.monotonic()
    begin = pb.SnapshotBegin(vv=vv, tops=tops, records=records, gc_horizon=horizon, chains=heads)
    sent, ended = 0, False
    try:
        yield pb.ServerMessage(snapshot_begin=begin)
        for page, count in pages:
            yield pb.ServerMessage(snapshot_chunk=page)
            sent += count
            replica.snapshot_note = f"sending to {peer}: {sent}/{records} records"
            if cfg.snapshot_rate_keys:
                await asyncio.sleep(count / cfg.snapshot_rate_keys)
            if replica.stopping:
                return
        yield pb.ServerMessage(snapshot_end=pb.SnapshotEnd(records=sent))
        ended = True
    finally:
        if not ended:  # the stream ended first: say so, never "sending" for good
            replica.snapshot_note = (
                f"cut off sending to {peer} at {sent}/{records} records (its stream ended)"
            )
    session.on_snapshot(vv)
    took = time.monotonic() - started
    replica.stats_snapshots["sent"] += 1
    replica.snapshot_note = f"sent to {peer}: {sent} records in {took:.2f}s"
    log.info(
        "%s: snapshot to %s sent: %d records in %.2fs (%.0f records/s)",
        replica.node_id,
        peer,
        sent,
        took,
        sent / took if took else 0.0,
    )


class Intake:
    """The subscriber's end for one stream: merges chunks, commits the vv at End.

    One snapshot at a time per node: when a second peer starts one, that link drops
    and reconnects later; by then the first snapshot has moved the vv and the second
    peer usually has only a log tail to send.
    """

    def __init__(self, replica: Replica, peer: str) -> None:
        self.replica = replica
        self.peer = peer
        self.receiver = SnapshotReceiver(peer, replica.limits)
        self.taken = Taken({}, {}, 0)  # what this node takes of the snapshot under way
        self.started = 0.0
        self.chains: dict[str, bytes] = {}  # the sender's chain values at the snapshot's vv

    def on_message(self, msg: pb.ServerMessage) -> None:
        replica, rx = self.replica, self.receiver
        kind = msg.WhichOneof("msg")
        if kind == "snapshot_begin":
            if replica.snapshot_from not in ("", self.peer):
                raise Busy(
                    f"a snapshot from {replica.snapshot_from} is under way; "
                    f"asking {self.peer} again after it"
                )
            rx.on_begin(msg.snapshot_begin)
            begin = msg.snapshot_begin
            check_chains(begin.chains, begin.vv, "a snapshot's", self.peer)
            self.chains = dict(begin.chains)
            self.taken = self._judge()
            replica.snapshot_from = self.peer
            replica.watchers.interrupt(
                f"{replica.node_id} is merging a snapshot from {self.peer} (it was far "
                f"behind, or below a truncation point): the changes it brings are not sent "
                f"as events; read what you need and watch again once it is done"
            )
            replica.store.set_meta(SNAPSHOT_META, self.peer.encode())
            self.started = time.monotonic()
            replica.snapshot_note = f"receiving from {self.peer}: 0/{rx.expected} records"
            log.info(
                "%s: receiving a snapshot from %s: %d records at vv %s",
                replica.node_id,
                self.peer,
                rx.expected,
                rx.vv,
            )
        elif kind == "snapshot_chunk":
            records = msg.snapshot_chunk.records
            lo, end = rx.on_chunk(msg.snapshot_chunk)
            wall, skew, packed = replica.wall_ms(), replica.config.max_clock_skew_ms, rx.unpacked
            if packed is not None:
                check_skew_hlc(packed.max_hlc, packed.max_origin, wall, skew, self.peer)
            else:
                check_skew(records, wall, skew, self.peer)
            replica.store.check_dir()
            if packed is not None:
                merge_packed(replica.store, packed, lo, end, self.taken.drops)
                newest = packed.max_hlc
            else:
                merge_snapshot(replica.store, records, lo, end, self.taken.drops)
                newest = max((r.hlc for r in records), default=0)
            if newest:
                replica.clock.observe(newest)
            replica.snapshot_note = (
                f"receiving from {self.peer}: {rx.records}/{rx.expected} records"
            )
        else:
            rx.on_end(msg.snapshot_end)
            taken = self.taken
            moved = finish_snapshot(
                replica.store, taken.moved, rx.tops, replica.origin, taken.horizon
            )
            chains.set_base(replica.store, moved, self.chains)
            replica.vouched.raise_to(taken.vouched, replica.vv)
            self.close()
            took = time.monotonic() - self.started
            replica.stats_snapshots["received"] += 1
            replica.snapshot_note = (
                f"received from {self.peer}: {rx.records} records in {took:.2f}s"
            )
            log.info(
                "%s: snapshot from %s complete: %d records in %.2fs (%.0f records/s); "
                "vv moved to %s",
                replica.node_id,
                self.peer,
                rx.records,
                took,
                rx.records / took if took else 0.0,
                moved,
            )
            replica.after_snapshot()
            _alone(replica.node_id, self.peer, taken, rx.horizon)
            if taken.unchecked:  # the sender streams on from the vv it claimed: start over
                raise PeerFailed(
                    f"left {_unchecked(taken)} where they were: {self.peer} claimed them past "
                    f"what they announced themselves; saying Hello again from there"
                )

    def _judge(self) -> Taken:
        """What of the snapshot beginning this node takes; refused before anything merges."""
        replica, rx, cfg = self.replica, self.receiver, self.replica.config
        said, others = replica.links.words(self.peer)
        known = Known(
            replica.origin,
            dict(replica.vv),
            dict(replica.store.tops),
            replica.links.outbound[self.peer].replica_id,
            said,
            others,
            frozenset([replica.node_id, self.peer, *cfg.peers]),
            replica.wall_ms(),
            cfg.max_clock_skew_ms,
            cfg.tombstone_grace_ms,
        )
        try:
            return judge(self.peer, rx.vv, rx.tops, rx.horizon, known)
        except (Refused, Held):
            rx.active = False
            replica.metrics.reject("snapshot")
            raise
        except PeerFailed:
            rx.active = False
            raise

    def close(self) -> None:
        """The snapshot ended or its stream did: another peer may send one."""
        if self.replica.snapshot_from == self.peer:
            self.replica.snapshot_from = ""
            if self.receiver.active:  # begun, never ended: not shown as under way
                rx = self.receiver
                self.replica.snapshot_note = (
                    f"cut off receiving from {self.peer} at {rx.records}/{rx.expected} "
                    f"records (its stream ended; it is asked for again)"
                )


def _alone(node: str, peer: str, taken: Taken, claimed: int) -> None:
    """Say what of a snapshot rests on its sender's word alone (docs/compaction.md)."""
    alone = sorted(set(taken.moved) - set(taken.vouched))
    if alone:
        log.info("%s: took %s on %s's word alone: not vouched for to peers", node, alone, peer)
    if claimed and not taken.horizon:
        log.info(
            "%s: %s's GC horizon not adopted, nothing held dropped: no peer besides it says "
            "this node lacks entries of another origin",
            node,
            peer,
        )


def _unchecked(taken: Taken) -> str:
    return ", ".join(
        f"{o} (claimed {c:,}, announced {a:,})" for o, (c, a) in taken.unchecked.items()
    )


def interrupted(replica: Replica) -> None:
    """At start: a snapshot that a crash cut off left its marker. Nothing of it was taken
    as complete (the vv did not move); say so and let the stream ask again."""
    peer = replica.store.get_meta(SNAPSHOT_META)
    if peer is not None:
        log.warning(
            "%s: a snapshot from %s was cut off (crash or stop); the vv did not move, "
            "so the node asks for one again",
            replica.node_id,
            peer.decode(errors="replace"),
        )
        replica.store.db.delete(META + SNAPSHOT_META, sync=True)
