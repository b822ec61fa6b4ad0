"""The pure parts of the etcd/Redis side-by-side bench: percentiles, the matching of
acknowledged writes to replica polls, argument parsing and the result table."""

from __future__ import annotations

import pytest

from cluster.bench import servers
from cluster.bench.etcd import ETCD_DURABILITY
from cluster.bench.peers import parse_args
from cluster.bench.redis import REDIS_DURABILITY
from cluster.bench.report import format_table
from cluster.bench.results import rate
from cluster.bench.stats import percentile, summarize_ns, visibility_latencies

pytestmark = pytest.mark.unit


def test_percentile_is_nearest_rank_of_measured_values() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7], 50) == 7
    assert percentile([1, 2], 50) == 1
    assert percentile([1, 2], 51) == 2


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_rejects_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1, 2, 3], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize_converts_ns_to_ms_in_any_order() -> None:
    ns = [3_000_000, 1_000_000, 2_000_000, 100_000_000]
    assert summarize_ns(ns) == {"p50": 2.0, "p99": 100.0, "max": 100.0, "samples": 4}
    assert summarize_ns([]) is None


def test_visibility_from_first_arrival_and_from_ack() -> None:
    # Stream 0, positions 5 and 6, acked at t=100 and t=200 by member 0.
    writes = [(100, 0, 5, 0), (200, 0, 6, 0)]
    series = [
        [(50, [4]), (150, [5]), (250, [6])],  # the acking member: 5 at 150, 6 at 250
        [(120, [5]), (400, [7])],  # 5 at 120 (first anywhere); 6 only through 7 at 400
        [(90, [6])],  # had both first of all, before either ack
    ]
    v = visibility_latencies(writes, series)
    # write 5 arrives at 90, 120, 150 -> 30, 60; write 6 at 90, 250, 400 -> 160, 310
    assert sorted(v.latencies_ns) == [30, 60, 160, 310]
    # from the ack, members other than the acking one: 5 -> 120-100, 90<100 -> 0;
    # 6 -> 400-200, 90<200 -> 0
    assert sorted(v.from_ack_ns) == [0, 0, 20, 200]
    assert v.before_ack == 2
    assert v.unseen == 0


def test_visibility_counts_unseen_and_tolerates_a_position_going_back() -> None:
    writes = [(0, 0, 3, -1), (0, 1, 2, -1)]
    series = [[(10, [3, 1]), (20, [2, 1])], [(15, [3, 2])]]  # member 0's stream 0 dips back
    v = visibility_latencies(writes, series)
    assert v.latencies_ns == [5]  # write (0, 3): 10 then 15; write (1, 2) only on member 1
    assert sorted(v.from_ack_ns) == [10, 15, 15]
    assert v.unseen == 1


def test_visibility_with_no_samples_sees_nothing() -> None:
    v = visibility_latencies([(0, 0, 1, -1)], [[], []])
    assert (v.latencies_ns, v.from_ack_ns, v.unseen, v.before_ack) == ([], [], 2, 0)


def test_rate_needs_a_converged_time() -> None:
    assert rate(1000, 0, 2_000_000_000) == 500.0
    assert rate(1000, 0, None) is None
    assert rate(1000, 5, 5) is None


def test_defaults_match_the_benchmark_issue() -> None:
    a = parse_args([])
    assert (a.writes, a.value_size, a.keys, a.concurrency) == (20_000, 100, 10_000, 16)
    assert a.json is None and a.no_install is False and a.only is None


def test_arguments_parse_with_separators() -> None:
    a = parse_args(["--writes", "50_000", "--concurrency", "4", "--json", "out.json"])
    assert a.writes == 50_000 and a.concurrency == 4 and str(a.json) == "out.json"


@pytest.mark.parametrize(
    "argv",
    [["--writes", "0"], ["--keys", "ten"], ["--latency-seconds", "-1"], ["--only", "zk"]],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def _result() -> dict:
    return {
        "workload": {
            "writes": 20_000,
            "value_size": 100,
            "keys": 10_000,
            "concurrency": 16,
            "latency_rate": 1000,
            "latency_seconds": 3.0,
        },
        "machine": {
            "nproc": 2,
            "cpu_model": "Test CPU",
            "data_dir_fs": "ext4",
            "loadavg_at_start": [0.5, 0.4, 0.3],
            "loadavg_at_end": [1.5, 0.4, 0.3],
        },
        "systems": [
            {
                "system": "etcd",
                "durability": ETCD_DURABILITY,
                "throughput_acked_per_s": 4321.6,
                "throughput_converged_per_s": 4300.0,
                "latency_ms": {"p50": 1.234, "p99": 9.5, "max": 12.0, "samples": 9},
                "notes": ["a note"],
            },
            {
                "system": "redis pipelined 100",
                "durability": REDIS_DURABILITY,
                "throughput_acked_per_s": 123456.0,
                "throughput_converged_per_s": None,
                "latency_ms": None,
                "notes": [],
            },
        ],
    }


def test_table_has_one_aligned_row_per_system_and_the_notes() -> None:
    lines = format_table(_result()).splitlines()
    assert lines[0].split()[:3] == ["system", "acked/s", "converged/s"]
    etcd = next(line for line in lines if line.startswith("etcd "))
    assert "4,322" in etcd and "4,300" in etcd and "1.23" in etcd and "9.50" in etcd
    assert etcd.endswith(ETCD_DURABILITY)
    redis = next(line for line in lines if line.startswith("redis pipelined 100"))
    assert "123,456" in redis and redis.count(" - ") >= 3  # missing figures show as "-"
    # the numeric columns line up: every row's acked/s ends at the same offset
    ends = {lines[0].index("acked/s") + len("acked/s")}
    ends.add(etcd.index("4,322") + len("4,322"))
    ends.add(redis.index("123,456") + len("123,456"))
    assert len(ends) == 1
    assert any("20,000 writes of 100 B over 10,000 keys, 16 client threads" in x for x in lines)
    assert any("load average 0.5 at start, 1.5 at end" in x for x in lines)
    assert "  etcd: a note" in lines


def test_missing_servers_without_install_name_the_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    with pytest.raises(servers.PeersUnavailable) as exc:
        servers.ensure_servers(install=False, log=lambda _msg: None)
    assert "apt-get install etcd-server redis-server" in str(exc.value)
