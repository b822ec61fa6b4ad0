"""The apply section times each stage of applying replicated entries on a real LevelDB."""

from __future__ import annotations

import pytest

from cluster.bench.apply import bench_apply
from cluster.bench.report import table
from node.pb import remesh_pb2 as pb
from node.tools.applycost import apply_cost, batches

pytestmark = pytest.mark.component


def test_batches_are_one_origins_log_in_order() -> None:
    raw = batches(1200, value_size=10, keys=50)
    entries = [e for r in raw for e in pb.ServerMessage.FromString(r).batch.entries]
    assert [e.seq for e in entries] == list(range(1, 1201)) and len(raw) == 3
    assert len({e.key for e in entries}) <= 50 and {len(e.value) for e in entries} == {10}
    assert all(a.hlc < b.hlc for a, b in zip(entries, entries[1:], strict=False))


def test_every_stage_is_timed_and_the_report_names_them() -> None:
    r = apply_cost(entries=3000, value_size=20, keys=500)
    us = r["us_per_entry"]
    assert set(us) == {
        "parse", "check", "triage", "plan_commit", "recent_cache",
        "leveldb_write", "store_commit", "state_lookup",
    }  # fmt: skip
    assert all(v > 0 for v in us.values()), us
    assert r["path_us_per_entry"] > us["store_commit"] and 0 < r["leveldb_share"] < 1
    text = table(
        {
            "machine": {
                "nproc": 2,
                "cpu_model": "x",
                "python": "3",
                "data_dir_fs": "ext4",
                "loadavg_at_start": [0.1],
            },  # fmt: skip
            "config": {"value_size": 20, "keys": 500},
            "apply": r,
        }
    )
    assert "apply one replicated entry (in process, 3,000 entries)" in text
    assert "store commit" in text and "of the path" in text


def test_the_bench_runs_it_in_a_process_of_its_own() -> None:
    r = bench_apply(entries=1000, value_size=20, keys=100)
    assert r["entries"] == 1000 and r["keys"] == 100 and r["path_us_per_entry"] > 0
