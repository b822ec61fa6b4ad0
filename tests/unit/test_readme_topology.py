"""Every key a topology file takes is in the README's topology example, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cluster.topology import _KEYS

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    """The ```yaml block under "## Topology files"."""
    text = README.read_text()
    block = text[text.index("## Topology files") :]
    start = block.index("```yaml\n") + len("```yaml\n")
    return block[start : block.index("```", start)]


def test_every_top_level_key_is_documented_in_schema_order() -> None:
    documented = re.findall(r"^([a-z_]+):", example(), re.M)
    assert documented == _KEYS["top"], "README topology example: missing, stale or reordered keys"


def test_every_node_key_is_documented() -> None:
    raw = yaml.safe_load(example())
    entries = [e for e in raw["nodes"] if isinstance(e, dict)]
    documented = {k for e in entries for k in e}
    assert documented == set(_KEYS["node"]), "README topology example: a node entry's keys"
