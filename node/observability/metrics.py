"""The node's metrics: one table of what is exposed, and the counters the hot path bumps.

``METRICS`` is the single declaration of every metric (name, type, labels, help):
the exposition (``node.observability.exposition``), the README's table and the unit test that
checks both derive from it. To add a metric, add a row here and a value for it in
``node.observability.exposition.snapshot``; the test fails until both agree.

``NodeMetrics`` holds what only the event loop can count as it happens (bytes per
peer, refusals by reason, latency histograms). It is plain integers and lists, no
locks: it is read only through a snapshot taken on the loop. Gauges (link up, lag,
keys...) are not counted at all: the snapshot reads them from the replica's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from node.observability.histogram import ENTRIES, SECONDS, Histogram

PREFIX = "remesh_"
Kind = Literal["counter", "gauge", "histogram"]
# Distinct peer label values kept per counter; any further peer counts as OTHER_PEER, so
# subscribers that come and go under new names cannot grow the table (invariant 11).
MAX_PEER_LABELS = 64
OTHER_PEER = "_other"
# Why input was refused. The security issue adds "auth"; every reason is exposed at 0
# from the start, so a rate() over it never misses the first refusal.
REJECT_REASONS = (
    "bad_request",  # a client's write: bad key, value, size
    "bad_entry",  # a replicated entry that fails validation
    "conflict",  # a peer sent other content under an (origin, seq) we hold
    "clock_skew",  # entries dated too far ahead: held, not applied
    "stale",  # a new entry dated at or below this node's GC horizon (a stale copy)
    "bad_hello",  # a subscriber's Hello refused (other cluster, tenant, bad vv)
    "bad_message",  # a subscriber's Ack or Want refused
    "auth",  # a call without the cluster's token, or a peer whose certificate is another node's
    "snapshot",  # a snapshot claiming what its receiver can check is untrue (issue 24)
    "too_large",  # a peer's batch or message past what this node accepts
    "too_many_streams",  # a stream past the caller's or the node's cap, or a name already open
    "fell_behind",  # a stream (Watch, Replicate) that held its byte budget unread too long
)
SOURCES = ("local", "replicated")  # of a commit: client writes, or a peer's batch


@dataclass(frozen=True)
class Metric:
    name: str  # exposed name: counters end in _total
    kind: Kind
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()  # histograms only


METRICS: tuple[Metric, ...] = (
    Metric("remesh_node_info", "gauge", ("node", "cluster", "tenant", "replica_id"),
           "Always 1; names the node and its current incarnation"),
    Metric("remesh_peer_link_up", "gauge", ("peer",),
           "1 while this node's subscription to the peer is connected"),
    Metric("remesh_peer_connects_total", "counter", ("peer",),
           "Times the subscription to the peer came up"),
    Metric("remesh_peer_received_entries_total", "counter", ("peer",),
           "New entries received from the peer and applied here"),
    Metric("remesh_peer_received_bytes_total", "counter", ("peer",),
           "Bytes of replication messages received from the peer, as they arrived"),
    Metric("remesh_peer_sent_entries_total", "counter", ("peer",),
           "Entries sent to the peer on its subscription"),
    Metric("remesh_peer_sent_bytes_total", "counter", ("peer",),
           "Bytes of entries sent to the peer: keys, values and about 32 each of framing"),
    Metric("remesh_peer_lag_entries", "gauge", ("peer",),
           "Entries this node holds that the peer has not acknowledged (also while cut off)"),
    Metric("remesh_peer_clock_offset_seconds", "gauge", ("peer",),
           "The peer's wall clock minus this node's, as last measured"),
    Metric("remesh_replication_apply_latency_seconds", "histogram", (),
           "From an entry's commit at its origin (its HLC) to its apply here", SECONDS),
    Metric("remesh_commit_entries", "histogram", ("source",),
           "Entries per LevelDB WriteBatch: a group of local writes or a peer's batch", ENTRIES),
    Metric("remesh_commit_duration_seconds", "histogram", ("source",),
           "Time to commit one WriteBatch (with fsync in sync durability)", SECONDS),
    Metric("remesh_local_writes_total", "counter", (),
           "Writes (puts and deletes) committed from clients of this node"),
    Metric("remesh_duplicates_received_total", "counter", (),
           "Replicated entries received that this node already held"),
    Metric("remesh_rejected_total", "counter", ("reason",),
           f"Inputs refused, by reason: {', '.join(REJECT_REASONS)}; none of it applied"),
    Metric("remesh_keys", "gauge", (), "Live keys held"),
    Metric("remesh_tombstones", "gauge", (), "Deleted keys whose tombstone is still held"),
    Metric("remesh_log_entries", "gauge", (),
           "Log entries held on disk, of every origin (truncated ones not counted)"),
    Metric("remesh_disk_reclaims_total", "counter", (),
           "LevelDB compactions asked for to free what truncation and GC deleted"),
    Metric("remesh_replication_streams", "gauge", (),
           "Peers subscribed to this node right now"),
    Metric("remesh_watch_streams", "gauge", (), "Watch streams open right now"),
    Metric("remesh_watch_bytes", "gauge", (),
           "Bytes of entries every Watch stream holds: queued, or being sent"),
    Metric("remesh_watermark_age_seconds", "gauge", (),
           "Since the watermark checkpoint last matched what is applied (0: current)"),
    Metric("remesh_hlc_ahead_seconds", "gauge", (),
           "How far the hybrid logical clock runs ahead of this node's wall clock"),
    Metric("remesh_storage_ok", "gauge", (),
           "1 while storage works; 0 after a failed commit or checkpoint, until one succeeds"),
    Metric("remesh_forks_total", "counter", (),
           "Forks found: a peer's chain of an origin differed from this node's"),
    Metric("remesh_forked_origins", "gauge", (),
           "Origins whose chain a peer holds differently, not yet repaired or cleared"),
)  # fmt: skip
BY_NAME = {m.name: m for m in METRICS}


def markdown_table() -> str:
    """The README's metric table, from ``METRICS``."""
    rows = ["| name | type | labels | meaning |", "|---|---|---|---|"]
    for m in METRICS:
        labels = ", ".join(m.labels) or "-"
        rows.append(f"| `{m.name}` | {m.kind} | {labels} | {m.help} |")
    return "\n".join(rows)


class PeerCounter:
    """A counter per peer, its label set capped at MAX_PEER_LABELS."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def add(self, peer: str, n: int) -> None:
        values = self.values
        if peer not in values:
            if len(values) >= MAX_PEER_LABELS:
                peer = OTHER_PEER
            values.setdefault(peer, 0)
        values[peer] += n


class NodeMetrics:
    """Counters and histograms the replica, links and streams bump on the event loop."""

    def __init__(self) -> None:
        self.received_entries = PeerCounter()
        self.received_bytes = PeerCounter()
        self.sent_entries = PeerCounter()
        self.sent_bytes = PeerCounter()
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.apply_latency = Histogram(SECONDS)
        self.commit_entries = {s: Histogram(ENTRIES) for s in SOURCES}
        self.commit_seconds = {s: Histogram(SECONDS) for s in SOURCES}
        self.watermark_current_at = 0.0  # monotonic time the watermark last matched the vv

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def committed(self, source: str, entries: int, seconds: float) -> None:
        self.commit_entries[source].observe(entries)
        self.commit_seconds[source].observe(seconds)
