"""The bench tool runs end to end on a small workload (figures are printed, not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def bench(tmp_path: Path, *args: str, timeout: float = 300) -> tuple[dict, str]:
    """``cluster bench ARGS --out FILE`` in its own home: the results and what it printed."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "REMESH_HOME": str(tmp_path / "home")}
    p = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "bench", *args, "--out", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    print(p.stdout)
    return json.loads(out.read_text()), p.stdout


def test_bench_small_run_reports_every_section(tmp_path):
    r, stdout = bench(
        tmp_path,
        str(ROOT / "topology/mesh3.yaml"),
        *("--only", "latency,throughput,catchup,heal,fanout", "--rates", "200"),
        *("--latency-seconds", "0.5", "--throughput-seconds", "1"),
        *("--catchup-entries", "3000", "--heal-writes", "500", "--clients", "2"),
        *("--batch", "100", "--allow-behind"),
    )
    assert r["machine"]["nproc"] and r["cluster"]["durability"] == "buffered"
    lat = r["latency"]["200"]
    assert lat["writes"] >= 50  # 100 planned; a loaded machine may offer fewer in time
    assert lat["all_ms"]["n"] == 2 * lat["writes"]  # each write timed at both replicas
    assert lat["processes"] == 2 and lat["target_per_s"] == 200
    assert r["throughput"]["acked"] > 0
    assert r["catchup"]["entries_behind"] >= 3000
    assert r["heal"]["writes_per_side"] == 500
    # A healthy full mesh sends each write over each link once.
    assert r["fanout"]["entries_sent_per_write"] == 2.0
    assert "replication latency" in stdout
    assert not (tmp_path / "home/mesh3").exists()  # brought up for the run, purged after


def test_bench_bootstrap_and_soak_disk_sections(tmp_path):
    """Each brings up its own mesh3 with small retention: the log catch-up really is one
    (no snapshot) and the added node really bootstraps by snapshot."""
    r, stdout = bench(
        tmp_path,
        *("--only", "bootstrap,soak-disk", "--bootstrap-keys", "3000"),
        *("--soak-writes", "5000", "--soak-keys", "500", "--clients", "2", "--batch", "100"),
        timeout=600,
    )
    b = r["bootstrap"]
    assert b["keys"] == 3000 and b["log_catchup_snapshots"] == 0 and b["snapshots_received"] >= 1
    s = r["soak-disk"]
    assert s["writes"] == 5000 and s["keys"] == 500 and len(s["disk_bytes"]) == 3
    assert len(s["peak_disk_bytes"]) == 3 and "peak while writing" in stdout
    assert "bootstrap of 3,000 live keys" in stdout



def test_bench_on_the_cluster_that_is_up_says_what_it_left_and_cleanup_deletes_it(
    cli,  # noqa: F811
    tmp_path,
):
    """Issue 25 item 10: a bench against the cluster that is up left every key it wrote
    without a word. It now counts them, and --cleanup deletes what the run wrote, never a
    prefix that held keys before (and says the tombstones stay)."""
    from cluster.api import Cluster

    cli("up", "mesh3.yaml")
    small = ("bench", "--only", "latency", "--rates", "100", "--latency-seconds", "1")
    p = cli(*small, "--allow-behind", "--json")
    err = p.stderr.decode()
    c = Cluster.open("mesh3", tmp_path / "home")
    left = len(c.scan("node-a", b"lat/"))
    assert left >= 50 and json.loads(out(p))["leftovers"]["keys"] == {"lat/": left}
    assert f"bench: left {left:,} keys in cluster mesh3 under lat/" in err, err
    assert "--cleanup deletes" in err

    p = cli(*small, "--allow-behind", "--cleanup", "--json")
    err = p.stderr.decode()
    assert "kept the keys under lat/" in err, err  # they were there before the run
    found = json.loads(out(p))["leftovers"]
    assert found["deleted"] == 0 and found["kept_prefixes"] == ["lat/"], found
    assert len(c.scan("node-a", b"lat/")) >= left  # the same keys, written again

    c.write_batch("node-a", [(i.key, None) for i in c.scan("node-a", b"lat/")])
    c.write("node-a", b"mine", b"kept")
    err = cli(*small, "--allow-behind", "--cleanup").stderr.decode()
    assert "bench: deleted the " in err and "tombstones stay" in err, err
    assert c.scan("node-a", b"lat/") == [] and c.read("node-c", b"mine") == b"kept"


def test_bench_help_shows_the_defaults_and_the_rates_fit_the_machine():
    from cluster.bench.config import default_rates

    p = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "bench", "--help"], capture_output=True, text=True
    )
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "--value-size VALUE_SIZE bytes per value (default: 100)" in text, text
    assert f"(default: {','.join(map(str, default_rates()))})" in text
    assert "--throughput-seconds THROUGHPUT_SECONDS of sustained load (default: 10.0)" in text
    assert default_rates(2) == [1000, 5000] and default_rates(8) == [1000, 10000]
    assert default_rates(1) == [1000, 2500]
