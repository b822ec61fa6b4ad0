"""Serving ``/metrics``: a snapshot taken on the event loop, formatted on another thread.

prometheus_client's HTTP server runs in its own daemon thread with this node's own
``CollectorRegistry`` (embedded nodes in one process never share one). A scrape asks
the loop for a snapshot (``call_soon_threadsafe``: a few dict copies, microseconds)
and formats it off the loop, so serving never stalls replication. A loop that does
not answer within SNAPSHOT_TIMEOUT_S (stalled, or stopping) gets the last snapshot
served again rather than a hung scrape.

This endpoint is plain HTTP without authentication (the gRPC port's auth does not
cover it): bind ``metrics_listen`` to loopback or a private network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from node.clock import unpack
from node.observability.metrics import BY_NAME, METRICS
from node.storage.trim import log_held

if TYPE_CHECKING:
    from node.replica import Replica

SNAPSHOT_TIMEOUT_S = 2.0
Labels = tuple[str, ...]
Snapshot = dict[str, list[tuple[Labels, Any]]]  # metric name -> (label values, value)


def snapshot(replica: Replica, now: float | None = None) -> Snapshot:
    """Every metric's samples, read from the replica's state. Call it on the event loop."""
    now = time.monotonic() if now is None else now
    m, links, cfg = replica.metrics, replica.links, replica.config
    # A configured peer's last session stays after its stream ends: its lag keeps
    # growing while it is cut off, as a partition should show.
    sessions = {p: i.session for p, i in links.inbound.items()}
    vv = replica.vv
    wall = replica.wall_ms()

    def per_peer(values: dict[str, int]) -> list[tuple[Labels, Any]]:
        return [((p,), v) for p, v in values.items()]

    hlc_ms = unpack(replica.clock.last)[0]
    return {
        "remesh_node_info": [((cfg.node_id, cfg.cluster, cfg.tenant, replica.origin), 1)],
        "remesh_peer_link_up": [((p,), int(s.connected)) for p, s in links.outbound.items()],
        "remesh_peer_connects_total": [((p,), s.connects) for p, s in links.outbound.items()],
        "remesh_peer_received_entries_total": per_peer(m.received_entries.values),
        "remesh_peer_received_bytes_total": per_peer(m.received_bytes.values),
        "remesh_peer_sent_entries_total": per_peer(m.sent_entries.values),
        "remesh_peer_sent_bytes_total": per_peer(m.sent_bytes.values),
        "remesh_peer_lag_entries": [((p,), s.lag(vv)) for p, s in sessions.items()],
        "remesh_peer_clock_offset_seconds": [
            ((p,), s.clock_offset_ms / 1000)
            for p, s in links.outbound.items()
            if s.clock_offset_ms is not None
        ],
        "remesh_replication_apply_latency_seconds": [((), m.apply_latency.snapshot())],
        "remesh_commit_entries": [((s,), h.snapshot()) for s, h in m.commit_entries.items()],
        "remesh_commit_duration_seconds": [
            ((s,), h.snapshot()) for s, h in m.commit_seconds.items()
        ],
        "remesh_local_writes_total": [((), replica.stats["local_writes"])],
        "remesh_duplicates_received_total": [((), replica.stats["duplicates_received"])],
        "remesh_rejected_total": [((r,), n) for r, n in m.rejected.items()],
        "remesh_keys": [((), replica.store.keys)],
        "remesh_tombstones": [((), replica.store.tombs)],
        "remesh_log_entries": [((), log_held(replica.store))],
        "remesh_disk_reclaims_total": [((), replica.compactor.reclaims)],
        "remesh_replication_streams": [((), links.open_streams())],
        "remesh_watch_streams": [((), len(replica.watchers.active))],
        "remesh_watch_bytes": [((), replica.watchers.total)],
        "remesh_watermark_age_seconds": [((), max(0.0, now - m.watermark_current_at))],
        "remesh_hlc_ahead_seconds": [((), max(0, hlc_ms - wall) / 1000)],
        "remesh_storage_ok": [((), int(not replica.health.error))],
        "remesh_forks_total": [((), replica.integrity.found)],
        "remesh_forked_origins": [((), len(replica.integrity.book.forks))],
    }


def families(snap: Snapshot) -> Iterator[Metric]:
    """The exposition of a snapshot, shaped by ``METRICS`` (pure: unit-tested)."""
    for name, samples in snap.items():
        spec = BY_NAME[name]
        labels = list(spec.labels)
        if spec.kind == "histogram":
            histogram = HistogramMetricFamily(name, spec.help, labels=labels)
            for values, h in samples:
                pairs = zip(h.bounds, h.cumulative, strict=True)
                buckets = [(_bound(b), float(c)) for b, c in pairs]
                histogram.add_metric(list(values), buckets, h.total)
            yield histogram
            continue
        family: CounterMetricFamily | GaugeMetricFamily
        if spec.kind == "counter":
            family = CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=labels)
        else:
            family = GaugeMetricFamily(name, spec.help, labels=labels)
        for values, value in samples:
            family.add_metric(list(values), value)
        yield family


def _bound(b: float) -> str:
    return "+Inf" if b == float("inf") else repr(float(b))


class NodeCollector:
    """The registry's one collector: a fresh snapshot from the loop at every scrape."""

    def __init__(self, replica: Replica, loop: asyncio.AbstractEventLoop) -> None:
        self.replica = replica
        self.loop = loop
        self.last: Snapshot = {}

    def take(self) -> Snapshot:
        if _on_loop(self.loop):
            self.last = snapshot(self.replica)
            return self.last
        done: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                done.set_result(snapshot(self.replica))
            except Exception as exc:  # noqa: BLE001 - handed to the scraping thread
                done.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(on_loop)
            self.last = done.result(SNAPSHOT_TIMEOUT_S)
        except (RuntimeError, concurrent.futures.TimeoutError):
            pass  # the loop is closed or busy: serve what we had
        return self.last

    def collect(self) -> Iterator[Metric]:
        return families(self.take())


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class MetricsServer:
    """``/metrics`` for one node on ``host:port`` (port 0: any free one)."""

    def __init__(self, replica: Replica, loop: asyncio.AbstractEventLoop) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = NodeCollector(replica, loop)
        self.registry.register(self.collector)
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.address = ""

    def start(self, host: str, port: int) -> None:
        try:
            self._httpd, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port}: {exc} (port in use?)") from None
        self.address = f"{host}:{self._httpd.server_port}"

    async def stop(self) -> None:
        """Stop serving: waits for the server thread (off the loop) so the port is free."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            await asyncio.to_thread(httpd.shutdown)
            httpd.server_close()


def text(registry: CollectorRegistry) -> str:
    """The exposition as text (``Node.metrics_text``; tests)."""
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


__all__ = ["METRICS", "MetricsServer", "NodeCollector", "families", "snapshot", "text"]
