"""The one settings schema: the topology model, the node config and the README agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster.topology import TopologyError, parse_topology
from node.config import ConfigError, NodeConfig
from node.settings import NAME_RE, SETTINGS, NodeSettings, bounds

pytestmark = pytest.mark.unit

NUMERIC = [n for n in SETTINGS if NodeSettings.model_fields[n].annotation in (int, float)]
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_settings() -> dict[str, object]:
    """``key: default`` of the ``settings:`` block in the README's topology example."""
    text = README.read_text()
    block = text[text.index("## Topology files") :]
    block = block[block.index("```yaml") : block.index("```", block.index("```yaml") + 3)]
    lines = block[block.index("\nsettings:") :].splitlines()[2:]
    out: dict[str, object] = {}
    for line in lines:
        if not line.startswith("  "):
            break
        key, value = line.split("#", 1)[0].strip().split(":", 1)
        out[key] = yaml.safe_load(value)
    return out


def test_readme_documents_every_setting_with_its_default() -> None:
    documented = readme_settings()
    defaults = {name: f.default for name, f in NodeSettings.model_fields.items()}
    assert list(documented) == list(SETTINGS), "README settings: missing, stale or reordered"
    assert documented == defaults


@pytest.mark.parametrize("name", NUMERIC)
def test_every_number_is_bounded_both_ways(name: str) -> None:
    low, high = bounds(name)
    assert low is not None and high is not None and low < high


@pytest.mark.parametrize("name", NUMERIC)
def test_topology_and_node_config_refuse_the_same_too_large_value(name: str) -> None:
    _, high = bounds(name)
    assert high is not None
    value = int(high) + 1
    with pytest.raises(TopologyError, match=f"settings.{name}: expected a number <= "):
        parse_topology(f"name: t\nsettings: {{{name}: {value}}}\nnodes: [a]\n", "t.yaml")
    with pytest.raises(ConfigError, match=f"config: {name}: expected .* to {high}"):
        NodeConfig(node_id="a", data_dir=Path("d"), **{name: value})


def test_a_timeout_of_ten_to_the_23_ms_is_refused() -> None:
    with pytest.raises(ConfigError, match="link_timeout_ms"):
        NodeConfig(node_id="a", data_dir=Path("d"), link_timeout_ms=10**23)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("node-a", True), ("n_1", True), ("a" * 40, True), ("a" * 41, False), ("a.b", False),
     ("-a", False), ("Node", False)],
)  # fmt: skip
def test_one_name_rule_for_topologies_and_nodes(name: str, ok: bool) -> None:
    assert bool(NAME_RE.match(name)) is ok
    topology_ok = config_ok = True
    try:
        parse_topology(f"name: t\nnodes: ['{name}']\n", "t.yaml")
    except TopologyError:
        topology_ok = False
    try:
        NodeConfig(node_id=name, data_dir=Path("d"))
    except ConfigError:
        config_ok = False
    assert topology_ok is config_ok is ok


def test_node_config_is_the_settings_plus_identity() -> None:
    cfg = NodeConfig(node_id="a", data_dir=Path("d"), heartbeat_ms=100, link_timeout_ms=800)
    assert isinstance(cfg, NodeSettings)
    assert (
        cfg.model_dump(include=set(SETTINGS))
        == NodeSettings(heartbeat_ms=100, link_timeout_ms=800).model_dump()
    )
