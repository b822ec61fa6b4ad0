"""The order in which a verb picks the state home (cluster.home)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.home import default_home, home_of, user_home, why

pytestmark = pytest.mark.unit


def test_remesh_home_then_local_then_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("REMESH_HOME", "rel")
    assert default_home() == tmp_path / "rel" and why(default_home()) == "$REMESH_HOME"
    monkeypatch.delenv("REMESH_HOME")
    assert default_home() == tmp_path / "xdg" / "remesh" == user_home()
    assert "per-user home" in why(default_home())
    (tmp_path / ".cluster").mkdir()
    assert default_home() == tmp_path / ".cluster"
    assert "used first" in why(default_home())
    assert home_of("elsewhere") == tmp_path / "elsewhere" and why(home_of("x")) == "--home"


def test_a_relative_xdg_state_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "not/absolute")
    monkeypatch.setenv("HOME", "/home/someone")
    assert user_home() == Path("/home/someone/.local/state/remesh")
