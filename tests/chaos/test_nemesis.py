"""Seeded randomized faults on real clusters; the history checker must find nothing.

A failure message carries the seed and the command that replays its schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.nemesis import DEFAULT_FAULTS, FAULTS, run_nemesis
from node.clock import wall_ms

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]
DURATION = 8.0


def timeline(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "timeline.jsonl").read_text().splitlines()]


def assert_sound_run(c: Cluster, s: dict, faults: set[str], out: Path) -> None:
    why = (
        f"seed {s['seed']} on {s['cluster']}: replay with `{s['replay']}`; "
        f"anomalies {s['anomalies'][:5]}; results in {out}"
    )
    assert s["valid"] and s["verdict"] == "valid", why
    assert s["converged"], why
    assert s["ops"]["ok"] > 0, why
    actions = {e["action"] for e in timeline(out)}
    assert actions & set(FAULTS) == faults, (actions, why)  # each allowed kind, no other
    undo = {
        "partition": "heal",
        "kill": "start",
        "pause": "resume",
        "membership": "membership-undo",
        "clock": "unskew",
    }
    assert {undo[f] for f in faults} <= actions, (actions, why)
    assert (out / "history.jsonl").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text()) == s
    report = (out / "report.html").read_text()
    assert s["report_pictures"] and report.count("data:image/png;base64,") == 1, why
    assert sorted(c.running_nodes()) == sorted(c.topology.names()), "a node was left down"
    assert c.unexpected_log_lines() == [], why


@pytest.mark.parametrize(
    ("seed", "faults"),
    [(101, {"partition"}), (202, {"kill"}), (303, {"pause"}), (404, set(DEFAULT_FAULTS))],
)
def test_nemesis_mesh3(remesh_cluster, tmp_path, seed, faults):
    c = remesh_cluster(ROOT / "topology/mesh3.yaml")
    out = tmp_path / "out"
    s = run_nemesis(c, seed, DURATION, faults, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, faults, out)


def test_nemesis_mesh3_in_plaintext(remesh_cluster, tmp_path):
    """Every fault without TLS (the default is mutual TLS): links cut and healed through
    the proxy, nodes killed (every restart a new process the tool and the peers must
    challenge again) and paused, a member removed and re-added, skewed clocks."""
    c = remesh_cluster(ROOT / "topology/mesh3.yaml", tls=False)
    assert not c.tls
    out = tmp_path / "out"
    s = run_nemesis(c, 909, DURATION, DEFAULT_FAULTS, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, set(DEFAULT_FAULTS), out)


def test_nemesis_mesh5_every_fault(remesh_cluster, tmp_path):
    c = remesh_cluster(ROOT / "topology/mesh5.yaml")
    out = tmp_path / "out"
    s = run_nemesis(c, 505, 10.0, DEFAULT_FAULTS, workers=5, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, set(DEFAULT_FAULTS), out)
    shapes = {e["detail"]["shape"] for e in timeline(out) if e["action"] == "partition"}
    assert shapes, "no partition shape recorded"


@pytest.mark.parametrize(("topology", "seed"), [("ring5", 707), ("star5", 808)])
def test_nemesis_relay_topologies(remesh_cluster, tmp_path, topology, seed):
    """Where nodes depend on relays, faults on one node cut others off from each other."""
    c = remesh_cluster(ROOT / f"topology/{topology}.yaml")
    out = tmp_path / "out"
    s = run_nemesis(c, seed, DURATION, DEFAULT_FAULTS, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, set(DEFAULT_FAULTS), out)


@pytest.mark.parametrize(("seed", "faults"), [(909, {"membership"}), (910, set(FAULTS))])
def test_nemesis_membership_mesh3(remesh_cluster, tmp_path, seed, faults):
    """Members leave (and come back as fresh incarnations) and join (and leave) under the
    workload; writes through a member that left still count, reads come from members."""
    c = remesh_cluster(ROOT / "topology/mesh3.yaml")
    out = tmp_path / "out"
    s = run_nemesis(c, seed, DURATION, faults, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, faults, out)
    changes = [e["detail"] for e in timeline(out) if e["action"] == "membership"]
    assert changes and all(d["change"] in ("leave", "join") for d in changes), changes
    # A member that left and came back is listed last: the set is what must be restored.
    assert sorted(c.topology.names()) == ["node-a", "node-b", "node-c"], "members not restored"


def test_nemesis_cli_verb(remesh_cluster, tmp_path):
    c = remesh_cluster(ROOT / "topology/mesh3.yaml")
    env = {**os.environ, "REMESH_HOME": str(c.dir.parent)}

    def cli(*args: str, env: dict = env) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cluster.cli", "nemesis", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )

    bad = cli("--seed", "1", "--faults", "partition,flood")
    assert bad.returncode == 2, bad.stderr
    assert "flood" in bad.stderr and "partition, kill, pause" in bad.stderr
    assert "Traceback" not in bad.stderr

    p = cli("--seed", "606", "--duration", "6s", "--faults", "kill,partition")
    assert p.returncode == 0, f"seed 606: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "VALID" in p.stdout and "; convergence " in p.stdout
    (out,) = (tmp_path / "nemesis-results").iterdir()  # the default results dir
    assert out.name.startswith("mesh3-seed606-")
    assert {f.name for f in out.iterdir()} >= {
        "history.jsonl",
        "timeline.jsonl",
        "summary.json",
        "report.html",
    }
    assert "pictures of the run in" in p.stdout and "report.html" in p.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["valid"] and s["verdict"] == "valid" and s["seed"] == 606, s["anomalies"][:5]
    # One definition, one label: the CLI, summary.json and report.html give the same figure.
    figure = f"convergence {s['convergence_seconds']:.3f} s"
    assert figure in p.stdout, p.stdout
    report = (out / "report.html").read_text()
    assert f"<th>convergence</th><td>{figure.split(' ', 1)[1]} (from every" in report

    # Without matplotlib: one line saying the report has no pictures, and how to get them.
    hide = tmp_path / "no-matplotlib"
    (hide / "matplotlib").mkdir(parents=True)
    (hide / "matplotlib/__init__.py").write_text("raise ImportError('hidden by the test')\n")
    bare = {**env, "PYTHONPATH": f"{hide}{os.pathsep}{env.get('PYTHONPATH', '')}"}
    p = cli("--seed", "7", "--duration", "2s", "--faults", "partition", "--out",
            str(tmp_path / "bare"), env=bare)  # fmt: skip
    assert p.returncode == 0, f"seed 7: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "pictures of the run" not in p.stdout, p.stdout
    assert "report of the run (no pictures: matplotlib is missing) in " in p.stdout
    assert "remesh[report]" in p.stderr and "has no pictures" not in p.stderr
    assert "matplotlib is not installed" in (tmp_path / "bare/report.html").read_text()
    assert c.unexpected_log_lines() == []


def test_nemesis_clock_skew_mesh3(remesh_cluster, tmp_path):
    """One node's clock runs up to 5 s fast or slow at a time, with partitions: the history
    still checks (versions are what the nodes acknowledged) and every clock is put back."""
    c = remesh_cluster(ROOT / "topology/mesh3.yaml")
    out = tmp_path / "out"
    faults = {"clock", "partition"}
    s = run_nemesis(c, 911, DURATION, faults, out_dir=out, converge_timeout=90)
    assert_sound_run(c, s, faults, out)
    skews = [e["detail"] for e in timeline(out) if e["action"] == "clock"]
    assert skews and all(100 <= abs(d["offset_ms"]) <= 5000 for d in skews), skews
    for node in c.topology.names():
        assert abs(c.skew(node, 0) - wall_ms()) < 2000, f"{node}'s clock was left shifted"


def test_nemesis_with_nodes_far_behind_caught_up_by_snapshot(remesh_cluster, tmp_path):
    """A bulk writer (PutBatch of 1,000 over 500 keys, beside the checked workload's 8)
    keeps every partitioned, killed or paused node tens of thousands of entries behind:
    far more than twice the records, so it catches up by snapshot (snapshot_lag_ratio),
    merged while the workload reads and writes. The history checker must still find
    nothing, and at least one such snapshot must have happened."""
    c = remesh_cluster(ROOT / "topology/mesh3.yaml")
    stop = threading.Event()
    bulk = {"batches": 0}

    def write_bulk() -> None:
        r = 0
        while not stop.is_set():
            r += 1
            for node in c.topology.names():
                try:
                    c.write_batch(node, [(b"bulk/%03d" % i, b"%d" % r) for i in range(0, 1000)])
                    bulk["batches"] += 1
                except Exception:  # noqa: BLE001 - a node down or cut off: try the next
                    pass

    writer = threading.Thread(target=write_bulk, daemon=True)
    writer.start()
    out = tmp_path / "out"
    try:
        s = run_nemesis(c, 1111, DURATION, {"partition", "kill"}, out_dir=out, converge_timeout=90)
    finally:
        stop.set()
        writer.join(30)
    assert_sound_run(c, s, {"partition", "kill"}, out)
    assert bulk["batches"] > 0
    snapshots = sum(c.node_status(n).snapshots_received for n in c.running_nodes())
    said = "".join(c.tail(n, 2000) for n in c.running_nodes())
    assert snapshots >= 1 or "log entries, more than 2 x the" in said, (
        f"no node caught up by snapshot ({bulk['batches']} bulk batches): the test did "
        f"not test what it says"
    )
