"""What the wheel carries: pyproject's package list and data mappings match the directories.

The wheel itself is built, installed in a fresh venv and run by ci/test-wheel; this catches
a new package or a moved data file before that, in a second.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_directory_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("cluster", "node")
        for init in (ROOT / top).rglob("__init__.py")
    }
    mapped = set(SETUPTOOLS["package-dir"])
    assert set(SETUPTOOLS["packages"]) == found | mapped


@pytest.mark.parametrize(
    ("package", "directory", "data"),
    [
        ("cluster.topologies", "topology", "mesh3.yaml"),
        ("node.proto", "proto/remesh/v1", "remesh.proto"),
    ],
)
def test_data_packages_map_onto_the_repository(package: str, directory: str, data: str) -> None:
    assert SETUPTOOLS["package-dir"][package] == directory
    assert (ROOT / directory / "__init__.py").is_file()  # what makes the mapping importable
    assert (ROOT / directory / data).is_file()
    # The install in use (editable here, a wheel in ci/test-wheel) finds it as package data.
    installed = resources.files(package) / data
    assert installed.is_file(), f"{package}/{data} not installed: run ci/install again"

