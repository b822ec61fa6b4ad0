"""The gRPC floor section measures real calls and messages between two processes."""

from __future__ import annotations

import pytest

from cluster.bench.floor import bench_floor

pytestmark = pytest.mark.component


def test_floor_counts_every_call_and_message_and_both_sides_cpu() -> None:
    r = bench_floor(calls=200, messages=500, concurrency=4)
    assert r["unary_put"]["count"] == 200 and r["stream_message"]["count"] == 500
    for shape in r.values():
        assert shape["per_s"] > 0
        assert shape["server_cpu_us"] > 0 and shape["client_cpu_us"] > 0
