"""Shared fixtures: clusters that always come down clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.backends.procfs import pid_alive
from cluster.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_cluster(tmp_path):
    """``clean_cluster("mesh3")`` -> a Cluster that is up; at teardown it is brought down
    and the test fails if any process is left or a node log holds an ERROR or traceback."""
    started: list[Cluster] = []

    def up(topology: str, **kw) -> Cluster:
        path = Path(topology) if topology.endswith(".yaml") else ROOT / f"topology/{topology}.yaml"
        c = Cluster.up(path, home=tmp_path / "clusters", **kw)
        started.append(c)
        return c

    yield up
    problems: list[str] = []
    for c in started:
        pids = c.pids()
        c.down()
        try:
            wait_for(lambda pids=pids: not any(pid_alive(p) for p in pids), 10, "no process left")
        except Exception as exc:  # noqa: BLE001
            problems.append(str(exc))
        problems += c.unexpected_log_lines()
    assert not problems, "\n".join(problems)
