"""Shared fixtures: clusters that always come down clean."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cluster.api import Cluster
from cluster.backends.procfs import pid_alive
from cluster.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]

_SANDBOX: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """No test touches the real user's clusters: a verb that falls back to the default
    home (REMESH_HOME, else the per-user ~/.local/state/remesh) lands in a private
    temporary directory of this run (each xdist worker its own)."""
    base = tempfile.mkdtemp(prefix="remesh-tests-")
    _SANDBOX.append(base)
    os.environ["REMESH_HOME"] = os.path.join(base, "home")
    os.environ["XDG_STATE_HOME"] = os.path.join(base, "xdg-state")


def pytest_unconfigure(config: pytest.Config) -> None:
    for base in _SANDBOX:
        shutil.rmtree(base, ignore_errors=True)


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
