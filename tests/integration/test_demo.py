"""ci/demo as a newcomer runs it: remesh alone installed, and the status it shows last is
taken after the key was written, so every node shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_installs_remesh_alone() -> None:
    demo = (ROOT / "ci" / "demo").read_text()
    assert "ci/install --no-extras" in demo and "[test]" not in demo
    install = (ROOT / "ci" / "install").read_text()
    assert 'if [ "${1:-}" = --no-extras ]; then\n    spec=.\n' in install


def test_the_demo_shows_the_status_after_the_write(tmp_path: Path) -> None:
    env = {**os.environ, "REMESH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    try:
        p = subprocess.run(
            [str(ROOT / "ci" / "demo"), "--no-install"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        shown = p.stdout[p.stdout.index("read at node-c: v\n") :].splitlines()[1:]
        header = next(line for line in shown if line.startswith("NODE"))
        keys = header.split().index("KEYS")
        rows = [line.split() for line in shown if line.startswith("node-")]
        assert {r[0]: r[keys] for r in rows} == {"node-a": "1", "node-b": "1", "node-c": "1"}
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "cluster.cli", "down", "--purge"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert down.returncode == 0, down.stderr
