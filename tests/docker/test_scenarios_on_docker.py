"""Convergence scenarios of tests/integration, unchanged, on the Docker backend: the same
test functions get a ``clean_cluster`` that brings topologies up as containers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_scenarios as scenarios

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

# (scenario, its arguments after the fixture, from the test's tmp_path)
SCENARIOS: list[tuple[Callable[..., None], Callable[[Path], tuple[Any, ...]]]] = [
    (scenarios.test_every_node_writes_concurrently_and_all_converge, lambda _: ("mesh3",)),
    (scenarios.test_writer_crash_keeps_every_acknowledged_write, lambda _: ()),
    (scenarios.test_whole_cluster_restart_keeps_data_and_watermarks, lambda tmp: (tmp,)),
]


@pytest.mark.parametrize(
    ("scenario", "extra"), SCENARIOS, ids=[s.__name__.removeprefix("test_") for s, _ in SCENARIOS]
)
def test_scenario_on_docker(
    clean_cluster: Any, node_image: Any, tmp_path: Path, scenario: Any, extra: Any
) -> None:
    def on_docker(topology: str, **kw: Any) -> Any:
        return clean_cluster(topology, backend="docker", **kw)

    scenario(on_docker, *extra(tmp_path))
