"""The gRPC floor section measures real calls and messages between two processes."""

from __future__ import annotations

import pytest

from cluster.bench.floor import bench_floor
from cluster.bench.report import table

pytestmark = pytest.mark.component


def test_floor_counts_every_call_and_message_and_both_sides_cpu() -> None:
    r = bench_floor(calls=200, messages=500, concurrency=4, paced=50)
    assert r["unary_put"]["count"] == 200 and r["stream_message"]["count"] == 500
    assert r["stream_write"]["count"] == 200
    latency = r.pop("stream_message_latency")
    assert latency["count"] == 50 and 0 < latency["p50_ms"] <= latency["p99_ms"]
    for shape in r.values():
        assert shape["per_s"] > 0
        assert shape["server_cpu_us"] > 0 and shape["client_cpu_us"] > 0


def test_the_report_shows_each_floor_shape_in_its_own_terms() -> None:
    result = {
        "machine": {"nproc": 2, "cpu_model": "x", "python": "3", "data_dir_fs": "ext4",
                    "loadavg_at_start": [0.1]},  # fmt: skip
        "config": {"value_size": 100, "keys": 10},
        "floor": {
            "unary_put": {"count": 9, "per_s": 900, "server_cpu_us": 500.0, "client_cpu_us": 1.0},
            "stream_message_latency": {"count": 50, "rate": 100, "p50_ms": 0.6, "p99_ms": 2.1},
        },
    }
    text = table(result)
    assert "gRPC alone: unary put" in text and "server 500.0 us" in text
    assert "one stream message, sent to received at 100/s" in text and "p50 0.6 ms" in text
