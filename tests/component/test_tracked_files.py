"""The checkout holds sources only: what an install step makes is never tracked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_installed_or_generated_at_run_time_is_tracked():
    """What an install step puts in the checkout (a venv, npm's node_modules, caches) stays
    out of git: a tracked copy is partial (.gitignore drops its build/ directories) and an
    install then takes it as done (a fresh clone once held a broken @grpc/grpc-js)."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(tracked) > 100, "git ls-files found too little: is this a checkout?"
    unwanted = (".clients/", ".venv/", "node_modules/", ".hypothesis/", ".mypy_cache/")
    assert not [p for p in tracked if any(u in f"/{p}" or p.startswith(u) for u in unwanted)]
