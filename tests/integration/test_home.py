"""Where the CLI keeps and finds clusters: ./.cluster first, else a private per-user home."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.home import default_home, user_home

pytestmark = pytest.mark.integration

SOLO = "name: solo\nproxies: false\nnodes: [only]\n"


def cluster(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_sandbox_keeps_tests_out_of_the_real_home() -> None:
    real = Path.home() / ".local" / "state"
    assert not default_home().is_relative_to(real) and not user_home().is_relative_to(real)


def test_a_cluster_is_found_from_any_directory_and_errors_say_where_they_looked(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REMESH_HOME"}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    user = tmp_path / "xdg" / "remesh"
    work, other, checkout = (tmp_path / d for d in ("work", "other", "checkout"))
    for d in (work, other, checkout / ".cluster"):
        d.mkdir(parents=True)
    (work / "solo.yaml").write_text(SOLO)
    up = cluster(work, env, "up", "solo.yaml")
    try:
        assert up.returncode == 0, up.stderr
        assert f"state in {user / 'solo'}" in up.stdout
        assert not (work / ".cluster").exists()
        for d in (tmp_path / "xdg", user, user / "solo"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d

        p = cluster(other, env, "status", "--json")  # another directory: still found
        assert p.returncode == 0 and '"only"' in p.stdout, p.stderr

        p = cluster(checkout, env, "status")  # ./.cluster here is looked in first
        assert p.returncode == 2
        here = checkout / ".cluster"
        assert f"no cluster in {here} (./.cluster of the current directory" in p.stderr
        assert f"clusters elsewhere: solo in {user}" in p.stderr
        assert "--home DIR or REMESH_HOME=DIR" in p.stderr and "Traceback" not in p.stderr
        p = cluster(checkout, env, "status", "--home", str(user))
        assert p.returncode == 0, p.stderr

        p = cluster(other, {**env, "REMESH_HOME": str(tmp_path / "none")}, "status")
        assert p.returncode == 2 and "($REMESH_HOME)" in p.stderr, p.stderr
    finally:
        down = cluster(other, env, "down", "--purge")
    assert down.returncode == 0, down.stderr
