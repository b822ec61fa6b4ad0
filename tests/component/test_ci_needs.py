"""ci/needs: a narrowed ci/test run installs and starts only what its selected tests need
(the unit and component tiers nothing: no root, apt or Docker engine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[2]


def needs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "ci" / "needs"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-m", "unit"), ""),
        (("-m", "component", "tests/component", "tests/unit"), ""),
        (("tests/integration/test_prometheus.py",), "prometheus\n"),
        (("tests/integration/test_readme_clients.py",), "clients\n"),
        (("-m", "docker", "tests/docker/test_image.py"), "docker\n"),
    ],
)
def test_what_a_narrowed_run_installs(args: tuple[str, ...], expected: str) -> None:
    p = needs(*args)
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected


def test_a_run_that_cannot_be_collected_is_not_planned() -> None:
    p = needs("tests/no-such-file.py")
    assert p.returncode == 1 and "collecting the tests failed" in p.stderr


def test_ci_test_asks_ci_needs_for_a_narrowed_run_and_gates_each_installer() -> None:
    script = (ROOT / "ci" / "test").read_text()
    assert 'ci/needs "$@"' in script
    for what, installer in [
        ("prometheus", "ci/install-prometheus"),
        ("clients", "ci/install-clients"),
        ("docker", "ci/install-docker"),
    ]:
        gate = script.index(f"need {what}")
        assert gate < script.index(installer), f"{installer} runs before its `need {what}`"
