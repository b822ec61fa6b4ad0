"""The label sweep removes what a killed run left, and nothing of a run still going."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.docker.conftest import LABEL, OWNER, owner, sweep

pytestmark = pytest.mark.docker


def test_sweep_removes_only_what_dead_runs_left(docker_engine: Any):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run = uuid.uuid4().hex[:12]
    host = owner().rpartition(":")[0]
    stale = docker_engine.volumes.create(
        name=f"remesh-test-stale-{run}", labels={LABEL: run, OWNER: f"{host}:{dead}"}
    )
    live = docker_engine.volumes.create(
        name=f"remesh-test-live-{run}", labels={LABEL: run, OWNER: owner()}
    )
    try:
        removed = sweep(docker_engine)
        assert f"volume {stale.name}" in removed
        assert f"volume {live.name}" not in removed
        assert sweep(docker_engine, run_id=run) == [f"volume {live.name}"]
    finally:
        for volume in docker_engine.volumes.list(filters={"name": run}):
            volume.remove(force=True)
