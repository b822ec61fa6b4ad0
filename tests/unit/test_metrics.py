"""The metric table (node.observability.metrics.METRICS): its naming, what a node exposes,
the README."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from node.config import NodeConfig
from node.observability import exposition
from node.observability.exposition import NodeCollector, families, snapshot
from node.observability.histogram import Histogram
from node.observability.metrics import (
    MAX_PEER_LABELS,
    METRICS,
    OTHER_PEER,
    PeerCounter,
    markdown_table,
)
from node.pb import remesh_pb2 as pb
from node.protocol import Refused
from node.replica import BadRequest, Replica
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

LABELS = {"peer", "reason", "source", "node", "cluster", "tenant", "replica_id"}
UNITS = ("seconds", "bytes", "entries")


@pytest.mark.parametrize("m", METRICS, ids=lambda m: m.name)
def test_each_metric_follows_the_prometheus_naming_rules(m):
    assert re.fullmatch(r"remesh_[a-z][a-z0-9_]*", m.name), m.name
    assert m.name.count("remesh_") == 1
    assert m.name.endswith("_total") == (m.kind == "counter"), "counters, and only they, _total"
    base = m.name.removesuffix("_total")
    for unit in ("second", "byte", "milliseconds", "ms"):
        assert not base.endswith("_" + unit), f"{m.name}: base units, plural: seconds, bytes"
    if m.kind == "histogram":
        assert m.buckets == tuple(sorted(m.buckets)) and m.buckets, "buckets ascending"
        assert base.endswith(UNITS), f"{m.name}: a histogram names its unit"
    assert set(m.labels) <= LABELS, f"{m.name}: labels of low cardinality only"
    assert m.help and "\n" not in m.help and "|" not in m.help


def test_names_are_unique():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))


def _exposed(text: str) -> dict[str, set[tuple[str, ...]]]:
    """``{family name as declared: {sorted label names of each sample}}`` from exposition text."""
    out: dict[str, set[tuple[str, ...]]] = {}
    for fam in text_string_to_metric_families(text):
        name = fam.name + ("_total" if fam.type == "counter" else "")
        for s in fam.samples:
            labels = tuple(sorted(set(s.labels) - {"le"}))
            out.setdefault(name, set()).add(labels)
    return out


def _replica(tmp_path) -> Replica:
    return Replica(NodeConfig(node_id="a", data_dir=tmp_path / "a", peers={"b": "127.0.0.1:1"}))


def test_a_replica_exposes_exactly_the_table(tmp_path):
    """Every row of METRICS is exposed with its labels, and nothing else is."""

    async def run() -> str:
        replica = _replica(tmp_path)
        try:
            replica.start()
            replica.incarnation.on_timeout()  # no peer answers here: write as a new node
            await replica.write([pb.Write(op=pb.PUT, key=b"k", value=b"v")])
            with pytest.raises(BadRequest):
                await replica.write([pb.Write(op=pb.PUT, key=b"", value=b"v")])
            replica.metrics.sent_bytes.add("b", 10)
            collector = NodeCollector(replica, asyncio.get_running_loop())
            from prometheus_client import CollectorRegistry, generate_latest

            registry = CollectorRegistry()
            registry.register(collector)
            return generate_latest(registry).decode()
        finally:
            await replica.close()

    text = asyncio.run(run())
    exposed = _exposed(text)
    declared = {m.name: tuple(sorted(m.labels)) for m in METRICS}
    absent_until_measured = {"remesh_peer_clock_offset_seconds", "remesh_peer_lag_entries"}
    absent_until_measured |= {n for n in declared if n.startswith("remesh_peer_received")}
    absent_until_measured.add("remesh_peer_sent_entries_total")  # bytes were counted above
    assert set(exposed) == set(declared) - absent_until_measured
    for name, labelsets in exposed.items():
        assert labelsets == {declared[name]}, name
    assert 'remesh_local_writes_total 1.0' in text
    assert 'remesh_rejected_total{reason="bad_request"} 1.0' in text
    assert 'remesh_commit_entries_count{source="local"} 1.0' in text
    assert 'remesh_peer_link_up{peer="b"} 0.0' in text
    assert "remesh_keys 1.0" in text


def test_the_readme_table_is_the_metric_table():
    readme = (ROOT / "README.md").read_text()
    paste = "paste node.observability.metrics.markdown_table()"
    assert markdown_table() in readme, f"README's metric table: {paste}"


def test_peer_labels_are_capped_so_passing_subscribers_cannot_grow_them():
    c = PeerCounter()
    for i in range(MAX_PEER_LABELS + 50):
        c.add(f"p{i}", 1)
    assert len(c.values) == MAX_PEER_LABELS + 1
    assert c.values[OTHER_PEER] == 50
    c.add("p0", 2)
    assert c.values["p0"] == 3


def test_histogram_buckets_are_cumulative_with_inf_last():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 2.0):
        h.observe(v)
    h.observe_many(0.5, 3)
    snap = h.snapshot()
    assert snap.bounds == (0.1, 1.0, float("inf"))
    assert snap.cumulative == (2, 6, 7)  # le is inclusive: 0.1 falls in the 0.1 bucket
    assert snap.count == 7 and snap.total == pytest.approx(0.05 + 0.1 + 0.5 + 2.0 + 1.5)


def test_families_render_a_snapshot_by_the_table():
    fams = {f.name: f for f in families({"remesh_rejected_total": [(("clock_skew",), 4)]})}
    assert fams["remesh_rejected"].type == "counter"
    (sample,) = fams["remesh_rejected"].samples
    assert sample.name == "remesh_rejected_total" and sample.labels == {"reason": "clock_skew"}


def test_a_scrape_from_another_thread_gets_a_snapshot_taken_on_the_loop(tmp_path, monkeypatch):
    """The HTTP thread never reads the replica itself; a loop that does not answer gets
    the last snapshot served (a stalled node still answers its scrape)."""
    monkeypatch.setattr(exposition, "SNAPSHOT_TIMEOUT_S", 0.2)
    loop = asyncio.new_event_loop()
    try:
        replica = _replica(tmp_path)
        collector = NodeCollector(replica, loop)
        got: list = []

        def scrape() -> None:
            got.append(collector.take())
            loop.call_soon_threadsafe(loop.stop)

        t = threading.Thread(target=scrape)
        t.start()
        loop.run_forever()  # serves the thread's request, until the thread is done
        t.join()
        assert got and got[0]["remesh_keys"] == [((), 0)]
        # The loop is not running now: the collector waits its timeout, serves the last.
        collector.last = {"remesh_keys": [((), 42)]}
        t = threading.Thread(target=lambda: got.append(collector.take()))
        t.start()
        t.join()
        assert got[1] == {"remesh_keys": [((), 42)]}
        assert snapshot(replica)["remesh_storage_ok"] == [((), 1)]
        replica.store.close()
    finally:
        loop.close()


def test_applying_a_peers_batch_counts_entries_latency_and_the_commit(tmp_path):
    replica = _replica(tmp_path)
    try:
        now = replica.wall_ms()
        entries = [
            pb.Entry(
                origin="b@0123456789ab",
                seq=i,
                hlc=(now - 2000 + i) << 16,  # committed 2 s ago at the origin, 1 ms apart
                op=pb.PUT,
                key=b"k%d" % i,
                value=b"v",
            )
            for i in range(1, 101)
        ]
        assert replica.apply_remote(entries, "b") == 100
        m = replica.metrics
        assert m.received_entries.values == {"b": 100}
        latency = m.apply_latency.snapshot()
        assert latency.count == 100, "every entry counted, however few are sampled"
        assert 1.8 < latency.total / latency.count < 60  # about 2 s each; no timing claim
        assert m.commit_entries["replicated"].snapshot().count == 1
        assert m.commit_entries["replicated"].snapshot().total == 100
        with pytest.raises(Refused, match="bad entry"):
            replica.apply_remote([pb.Entry(origin="b@0123456789ab", seq=101)], "b")
        assert m.rejected["bad_entry"] == 1
    finally:
        replica.store.close()
