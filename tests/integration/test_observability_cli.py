"""The observability verbs on a real cluster: `logs --all [-f]` and `metrics`, through the
real CLI, with one node logging JSON and the others text."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cluster.logs import line_time
from cluster.wait import wait_for

pytestmark = pytest.mark.integration

NODES = ["node-a", "node-b", "node-c"]
TOPOLOGY = """\
name: obs3
nodes:
  - node-a
  - {name: node-b, settings: {log_format: json}}
  - node-c
"""


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "REMESH_HOME": str(tmp_path / "clusters"), "NO_COLOR": "1"}


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def split(line: str) -> tuple[str, str]:
    name, sep, rest = line.partition(" | ")
    assert sep, f"no node prefix: {line!r}"
    return name.strip(), rest


@pytest.fixture
def obs3(clean_cluster, tmp_path):
    path = tmp_path / "obs3.yaml"
    path.write_text(TOPOLOGY)
    return clean_cluster(str(path))


def test_logs_all_interleaves_every_node_in_time_order(obs3, tmp_path):
    obs3.restart("node-b")  # lines on every node: b stops and starts, a and c see it
    obs3.wait_ready(60)
    p = cli(tmp_path, "logs", "--all")
    assert p.returncode == 0, p.stderr
    lines = [split(line) for line in p.stdout.splitlines()]
    assert {name for name, _ in lines} == set(NODES)
    times = [line_time(rest) for _, rest in lines]
    stamped = [t for t in times if t is not None]
    assert len(stamped) > 0.9 * len(lines)
    assert stamped == sorted(stamped), "merged in time order"
    switches = sum(a != b for (a, _), (b, _) in zip(lines, lines[1:], strict=False))
    assert switches > 2 * len(NODES), "interleaved, not one node's block after another"
    b_lines = [rest for name, rest in lines if name == "node-b"]
    assert all(json.loads(rest)["node"] == "node-b" for rest in b_lines), "node-b logs JSON"
    assert any(json.loads(rest)["event"].startswith("serving on") for rest in b_lines)
    assert cli(tmp_path, "logs", "--all", "node-a").returncode == 2


def test_logs_all_follow_shows_new_lines_from_every_node(obs3, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cluster.cli", "logs", "--all", "-f", "-n", "1"],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    got: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [got.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    seen: list[str] = []

    def drain() -> list[str]:
        while not got.empty():
            seen.append(got.get())
        return seen

    try:
        wait_for(lambda: drain(), 30, "the last line of the merged logs")
        start = len(seen)
        obs3.restart("node-c")
        wait_for(
            lambda: {split(line)[0] for line in drain()[start:]} == set(NODES),
            60,
            lambda: f"lines from every node after node-c restarted; got {seen[start:]}",
        )
    finally:
        proc.terminate()
        proc.wait(10)


def test_metrics_verb_prints_and_filters_a_nodes_metrics(obs3, tmp_path):
    obs3.write("node-a", b"k", b"v")
    p = cli(tmp_path, "metrics", "node-a", "--grep", "REMESH_LOCAL_WRITES")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "remesh_local_writes_total 1.0\n"
    p = cli(tmp_path, "metrics", "node-b", "--json", "--grep", "link_up")
    assert p.returncode == 0, p.stderr
    samples = json.loads(p.stdout)
    assert sorted(s["labels"]["peer"] for s in samples) == ["node-a", "node-c"]
    assert all(s["name"] == "remesh_peer_link_up" and s["value"] == 1.0 for s in samples)
    status = json.loads(cli(tmp_path, "status", "--json").stdout)
    urls = [n["metrics"] for n in status["nodes"]]
    assert all(u.startswith("http://127.0.0.1:") and u.endswith("/metrics") for u in urls)
    p = cli(tmp_path, "metrics", "node-a", "--grep", "no-such-metric")
    assert p.returncode == 1 and "no metric of node-a matches" in p.stderr
