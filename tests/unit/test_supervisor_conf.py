"""supervisord's config: what it cannot hold is refused, and what is rendered reads back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cluster.backends.supervisor import Program, Supervisor, SupervisorError
from cluster.backends.supervisor.conf import program_commands, recorded_socket_path

pytestmark = pytest.mark.unit


def sleeper(name: str, **kw: object) -> Program:
    return Program(name, [sys.executable, "-c", "import time; time.sleep(3600)"], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["a ;b", "a #b", "line\nbreak", "'quoted'", "both ' and \""],
)
def test_unrepresentable_environment_values_are_refused(tmp_path: Path, value: str) -> None:
    sup = Supervisor(tmp_path)
    with pytest.raises(SupervisorError, match="env X"):
        sup.render([sleeper("node-a", env={"X": value})])


def test_start_without_render_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SupervisorError, match="render"):
        Supervisor(tmp_path).start()


def test_a_rendered_config_names_its_socket_and_commands(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "state with %")
    argv = [sys.executable, "-m", "node", "--config", str(tmp_path / "a 100%/node.yaml")]
    sup.render([Program("node-a", argv), sleeper("proxy", priority=1)])
    assert recorded_socket_path(sup.conf_path) == sup.socket_path
    commands = program_commands(sup.conf_path)
    assert commands["node-a"] == argv and set(commands) == {"node-a", "proxy"}
    assert Supervisor(sup.state_dir).socket_path == sup.socket_path


def test_duplicate_program_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SupervisorError, match="duplicate program names: node-a"):
        Supervisor(tmp_path).render([sleeper("node-a"), sleeper("node-a")])
