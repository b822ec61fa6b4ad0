"""Topology parsing: shipped files, shapes, settings merge, and every error's exact message."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from cluster.topology import (
    NodeSettings,
    Topology,
    TopologyError,
    load_topology,
    parse_topology,
)

pytestmark = pytest.mark.unit

TOPOLOGY_DIR = Path(__file__).resolve().parents[2] / "topology"
VALID_KEYS = (
    "name, description, tenant, links, hub, proxies, tls, backend, allow_disconnected, "
    "settings, nodes"
)
SETTING_KEYS = (
    "durability, max_key_bytes, max_value_bytes, max_batch_entries, heartbeat_ms, "
    "link_timeout_ms, backoff_max_ms, watermark_every_entries, watermark_every_ms, "
    "max_clock_skew_ms, linger_ms, log_format, retain_entries, retain_ms, tombstone_grace_ms, "
    "pin_timeout_ms, compact_every_ms, snapshot_chunk_keys, snapshot_rate_keys, "
    "snapshot_lag_ratio, write_buffer_kib"
)


def parse(text: str) -> Topology:
    return parse_topology(text, "t.yaml")


def error(text: str) -> TopologyError:
    with pytest.raises(TopologyError) as info:
        parse(text)
    return info.value


# --- shipped files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "nodes", "links", "shape"),
    [
        ("mesh3", 3, 3, "full-mesh"),
        ("mesh5", 5, 10, "full-mesh"),
        ("mesh7", 7, 21, "full-mesh"),
        ("ring5", 5, 5, "ring"),
        ("line4", 4, 3, "line"),
        ("star5", 5, 4, "star"),
        ("pair", 2, 1, "full-mesh"),
        ("explicit", 6, 7, "explicit"),
    ],
)
def test_shipped_file(stem: str, nodes: int, links: int, shape: str) -> None:
    path = TOPOLOGY_DIR / f"{stem}.yaml"
    topo = load_topology(path)
    assert topo.name == stem
    assert topo.source == str(path)
    assert len(topo.nodes) == nodes
    assert len(topo.links) == links
    assert topo.shape == shape
    assert all(n.port is None for n in topo.nodes), "ports are allocated at start"


def test_every_shipped_file_is_tested() -> None:
    shipped = {p.stem for p in TOPOLOGY_DIR.glob("*.yaml")}
    assert shipped == {"mesh3", "mesh5", "mesh7", "ring5", "line4", "star5", "pair", "explicit"}


def test_star5_hub_and_pair_override() -> None:
    star = load_topology(TOPOLOGY_DIR / "star5.yaml")
    assert star.peers("node-a") == ["node-b", "node-c", "node-d", "node-e"]
    assert star.peers("node-c") == ["node-a"]
    pair = load_topology(TOPOLOGY_DIR / "pair.yaml")
    assert pair.node("node-a").settings.durability == "sync"
    assert pair.node("node-b").settings.durability == "buffered"


# --- shapes --------------------------------------------------------------------------------

FIVE = "name: t\nnodes: [a, b, c, d, e]\n"


def test_defaults_full_mesh() -> None:
    topo = parse("name: t\nnodes: [a, b, c]\n")
    assert topo.shape == "full-mesh"
    assert topo.links == [("a", "b"), ("a", "c"), ("b", "c")]
    assert topo.tenant == "default"
    assert topo.proxies is True
    assert topo.names() == ["a", "b", "c"]
    assert topo.source == "t.yaml"


def test_ring() -> None:
    topo = parse(FIVE + "links: ring\n")
    assert topo.links == [("a", "b"), ("a", "e"), ("b", "c"), ("c", "d"), ("d", "e")]
    assert topo.peers("a") == ["b", "e"]
    assert topo.peers("c") == ["b", "d"]


def test_ring_of_two_is_one_pair() -> None:
    assert parse("name: t\nnodes: [a, b]\nlinks: ring\n").links == [("a", "b")]


def test_line() -> None:
    topo = parse(FIVE + "links: line\n")
    assert topo.links == [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
    assert topo.peers("a") == ["b"]
    assert topo.peers("c") == ["b", "d"]


def test_star_default_hub_is_first_node() -> None:
    topo = parse(FIVE + "links: star\n")
    assert topo.links == [("a", "b"), ("a", "c"), ("a", "d"), ("a", "e")]


def test_star_hub_pairs_are_in_node_order() -> None:
    topo = parse(FIVE + "links: star\nhub: c\n")
    assert topo.links == [("a", "c"), ("b", "c"), ("c", "d"), ("c", "e")]
    assert topo.peers("c") == ["a", "b", "d", "e"]
    assert topo.peers("e") == ["c"]


def test_explicit_pairs_are_normalised() -> None:
    text = FIVE + "allow_disconnected: true\nlinks:\n  - [e, a]\n  - [c, b]\n  - [a, b]\n"
    topo = parse(text)
    assert topo.shape == "explicit"
    assert topo.links == [("a", "b"), ("a", "e"), ("b", "c")]
    assert topo.peers("d") == []


def test_single_node_has_no_links() -> None:
    for shape in ("full-mesh", "ring", "line", "star"):
        topo = parse(f"name: t\nnodes: [a]\nlinks: {shape}\n")
        assert topo.links == []
        assert topo.peers("a") == []


def test_directed_links() -> None:
    topo = parse("name: t\nnodes: [a, b, c]\nlinks: line\n")
    assert topo.directed_links() == [("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")]


def test_unknown_node_lookup() -> None:
    topo = parse("name: t\nnodes: [node-a, node-b]\n")
    with pytest.raises(TopologyError) as info:
        topo.peers("node-x")
    assert str(info.value) == "t.yaml: unknown node 'node-x'; known nodes: node-a, node-b"
    with pytest.raises(TopologyError):
        topo.node("node-x")


def test_full_node_form_and_top_level_keys() -> None:
    topo = parse(
        "name: t\ntenant: acme\nproxies: false\n"
        "nodes:\n  - name: a\n    port: 9701\n  - b\n  - {name: c, port: 65535}\n"
    )
    assert topo.tenant == "acme"
    assert topo.proxies is False
    assert [n.port for n in topo.nodes] == [9701, None, 65535]


# --- settings ------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    s = NodeSettings()
    assert (s.durability, s.max_key_bytes, s.max_value_bytes) == ("buffered", 4096, 1048576)
    assert (s.max_batch_entries, s.heartbeat_ms, s.link_timeout_ms) == (1000, 200, 1500)
    assert (s.backoff_max_ms, s.watermark_every_entries, s.watermark_every_ms) == (1000, 10000, 500)


def test_per_node_override_merges_with_cluster_settings() -> None:
    topo = parse(
        "name: t\n"
        "settings: {durability: sync, heartbeat_ms: 100, link_timeout_ms: 800}\n"
        "nodes:\n"
        "  - name: a\n"
        "    settings: {durability: buffered, max_batch_entries: 50}\n"
        "  - b\n"
    )
    a, b = topo.node("a").settings, topo.node("b").settings
    assert (a.durability, a.max_batch_entries, a.heartbeat_ms) == ("buffered", 50, 100)
    assert (b.durability, b.max_batch_entries, b.heartbeat_ms) == ("sync", 1000, 100)
    assert a.link_timeout_ms == b.link_timeout_ms == 800


def test_merged_returns_new_settings() -> None:
    base = NodeSettings()
    assert base.merged({"heartbeat_ms": 50}).heartbeat_ms == 50
    assert base.heartbeat_ms == 200


def test_topology_error_pickles() -> None:
    err = TopologyError("t.yaml", 3, "nodes", "boom")
    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.line, again.field, again.message) == ("t.yaml", 3, "nodes", "boom")


# --- errors: (yaml, line, field, message) ------------------------------------------------------

BAD = [
    pytest.param(
        "name: t\nnodes: [a, b\n",
        3,
        None,
        "invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)",
        id="yaml-syntax",
    ),
    pytest.param(
        "name: t\n  nodes: [a]\n",
        2,
        None,
        "invalid YAML: mapping values are not allowed here",
        id="yaml-bad-indent",
    ),
    pytest.param(
        "- a\n- b\n",
        1,
        None,
        "expected a mapping with 'name' and 'nodes' at the top level, found a list",
        id="top-level-list",
    ),
    pytest.param(
        "# just a comment\n",
        None,
        None,
        "expected a mapping with 'name' and 'nodes' at the top level, found an empty file",
        id="empty-file",
    ),
    pytest.param(
        "# c\nnodes: [a]\n",
        2,
        "name",
        "required field is missing: expected the cluster name, e.g. 'name: mesh3'",
        id="missing-name",
    ),
    pytest.param(
        "name: t\n",
        1,
        "nodes",
        "required field is missing: expected a list of nodes, e.g. 'nodes: [node-a, node-b]'",
        id="missing-nodes",
    ),
    pytest.param(
        "name: t\nnode:\n  - a\n",
        2,
        "node",
        f"unknown key (did you mean 'nodes'?); valid keys: {VALID_KEYS}",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "name: t\nnodes: [a]\nnodes: [b]\n",
        3,
        "nodes",
        "duplicate key 'nodes' (first on line 2)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "name: Mesh 3\nnodes: [a]\n",
        1,
        "name",
        "expected lowercase letters, digits, '-' or '_', starting with a letter or digit, "
        "at most 40 characters; found 'Mesh 3'",
        id="bad-cluster-name",
    ),
    pytest.param(
        "name: t\ntenant: " + "x" * 41 + "\nnodes: [a]\n",
        2,
        "tenant",
        "expected lowercase letters, digits, '-' or '_', starting with a letter or digit, "
        f"at most 40 characters; found '{'x' * 41}'",
        id="bad-tenant",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - -b\n",
        4,
        "nodes[1].name",
        "expected lowercase letters, digits, '-' or '_', starting with a letter or digit, "
        "at most 40 characters; found '-b'",
        id="bad-node-name",
    ),
    pytest.param(
        "name: 7\nnodes: [a]\n",
        1,
        "name",
        "expected a string, found integer 7",
        id="name-not-a-string",
    ),
    pytest.param(
        "name: t\nnodes: []\n",
        2,
        "nodes",
        "expected at least one node, found an empty list",
        id="no-nodes",
    ),
    pytest.param(
        "name: t\ndescription: 5\nnodes: [a]\n",
        2,
        "description",
        "expected a string, found integer 5",
        id="description-not-a-string",
    ),
    pytest.param(
        "name: t\nnodes: node-a\n",
        2,
        "nodes",
        "expected a list, found string 'node-a'",
        id="nodes-not-a-list",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - [b]\n",
        4,
        "nodes[1]",
        "expected a node name or a mapping with 'name', found a list",
        id="node-not-a-mapping",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - port: 9701\n",
        4,
        "nodes[1].name",
        "required field is missing: expected a node name, e.g. 'name: node-a'",
        id="node-without-name",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    prot: 9701\n",
        4,
        "nodes[0].prot",
        "unknown key (did you mean 'port'?); valid keys: name, port, settings",
        id="unknown-node-key",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - b\n  - a\n",
        5,
        "nodes[2].name",
        "duplicate node name 'a' (first on line 3)",
        id="duplicate-node-name",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - proxy\n",
        4,
        "nodes[1].name",
        "'proxy' is the link proxy's name: pick another node name",
        id="node-named-like-the-proxy",
    ),
    pytest.param(
        "name: t\nnodes:\n  - remesh-proxy\n  - b\n",
        3,
        "nodes[0].name",
        "'remesh-proxy' is the link proxy's name: pick another node name",
        id="node-named-like-the-proxy-container",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    port: 9701\n  - name: b\n    port: 9701\n",
        6,
        "nodes[1].port",
        "duplicate port 9701: node 'a' uses it on line 4",
        id="duplicate-port",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    port: 80\n",
        4,
        "nodes[0].port",
        "expected a port between 1024 and 65535, found 80",
        id="port-too-low",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    port: 70000\n",
        4,
        "nodes[0].port",
        "expected a port between 1024 and 65535, found 70000",
        id="port-too-high",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    port: '9701'\n",
        4,
        "nodes[0].port",
        "expected an integer, found string '9701'",
        id="port-is-a-string",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nproxies: 'no'\n",
        3,
        "proxies",
        "expected true or false, found string 'no'",
        id="proxies-not-bool",
    ),
    pytest.param(
        "name: t\nnodes: [node-a, node-b]\nlinks:\n  - [node-a, node-b]\n  - [node-a, node-x]\n",
        5,
        "links[1][1]",
        "unknown node 'node-x'; known nodes: node-a, node-b",
        id="link-unknown-node",
    ),
    pytest.param(
        "name: t\nnodes: [node-a, node-b]\nlinks:\n  - [node-b, nodea]\n",
        4,
        "links[0][1]",
        "unknown node 'nodea' (did you mean 'node-a'?); known nodes: node-a, node-b",
        id="link-node-typo",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks:\n  - [a, a]\n",
        4,
        "links[0]",
        "a link needs two distinct nodes, found 'a' twice",
        id="link-to-self",
    ),
    pytest.param(
        "name: t\nnodes: [a, b, c]\nlinks:\n  - [a, b]\n  - [b, c]\n  - [b, a]\n",
        6,
        "links[2]",
        "duplicate link a <-> b (first on line 4)",
        id="duplicate-link-reversed",
    ),
    pytest.param(
        "name: t\nnodes: [a, b, c]\nlinks:\n  - [a, b, c]\n",
        4,
        "links[0]",
        "expected a pair like [node-a, node-b], found a list of 3",
        id="link-not-a-pair",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks:\n  - a-b\n",
        4,
        "links[0]",
        "expected a pair like [node-a, node-b], found string 'a-b'",
        id="link-is-a-string",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks:\n  - [a, 2]\n",
        4,
        "links[0][1]",
        "expected a node name, found integer 2",
        id="link-end-not-a-string",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks: fullmesh\n",
        3,
        "links",
        "unknown shape 'fullmesh' (did you mean 'full-mesh'?); "
        "expected one of: full-mesh, ring, line, star, or a list of node pairs",
        id="unknown-shape",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks: 3\n",
        3,
        "links",
        "expected one of full-mesh, ring, line, star or a list of node pairs, found integer 3",
        id="links-wrong-type",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nlinks: star\nhub: node-x\n",
        4,
        "hub",
        "unknown node 'node-x'; known nodes: a, b",
        id="hub-unknown-node",
    ),
    pytest.param(
        "name: t\nnodes: [a, b, c]\nlinks: ring\nhub: a\n",
        4,
        "hub",
        "'hub' only applies to 'links: star', but links is 'ring'",
        id="hub-with-ring",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nhub: a\n",
        3,
        "hub",
        "'hub' only applies to 'links: star', but links is 'full-mesh'",
        id="hub-with-default-shape",
    ),
    pytest.param(
        "name: t\nnodes: [a, b]\nhub: a\nlinks: [[a, b]]\n",
        3,
        "hub",
        "'hub' only applies to 'links: star', but links is a list",
        id="hub-with-explicit-links",
    ),
    pytest.param(
        "name: t\nsettings:\n  durability: async\nnodes: [a]\n",
        3,
        "settings.durability",
        "expected 'buffered' or 'sync', found string 'async'",
        id="bad-durability",
    ),
    pytest.param(
        "name: t\nsettings:\n  heartbeat_ms: 5\nnodes: [a]\n",
        3,
        "settings.heartbeat_ms",
        "expected a number >= 10, found 5",
        id="heartbeat-too-small",
    ),
    pytest.param(
        "name: t\nsettings:\n  max_value_bytes: 1.5\nnodes: [a]\n",
        3,
        "settings.max_value_bytes",
        "expected an integer, found float 1.5",
        id="setting-not-an-int",
    ),
    pytest.param(
        "name: t\nsettings:\n  heartbeat: 100\nnodes: [a]\n",
        3,
        "settings.heartbeat",
        f"unknown key (did you mean 'heartbeat_ms'?); valid keys: {SETTING_KEYS}",
        id="unknown-setting",
    ),
    pytest.param(
        "name: t\nsettings: [sync]\nnodes: [a]\n",
        2,
        "settings",
        "expected a mapping, found a list",
        id="settings-not-a-mapping",
    ),
    pytest.param(
        "name: t\nnodes:\n  - name: a\n    settings:\n      durabilty: sync\n",
        5,
        "nodes[0].settings.durabilty",
        f"unknown key (did you mean 'durability'?); valid keys: {SETTING_KEYS}",
        id="unknown-node-setting",
    ),
    pytest.param(
        "name: t\nnodes:\n  - a\n  - name: b\n    settings: {max_key_bytes: 0}\n",
        5,
        "nodes[1].settings.max_key_bytes",
        "expected a number >= 1, found 0",
        id="bad-node-setting",
    ),
    pytest.param(
        "name: t\nsettings:\n  heartbeat_ms: 500\n  link_timeout_ms: 500\nnodes: [a]\n",
        4,
        "settings.link_timeout_ms",
        "link_timeout_ms (500) must be greater than heartbeat_ms (500)",
        id="timeout-not-above-heartbeat",
    ),
    pytest.param(
        "name: t\nsettings:\n  heartbeat_ms: 2000\nnodes: [a]\n",
        3,
        "settings.heartbeat_ms",
        "link_timeout_ms (1500) must be greater than heartbeat_ms (2000)",
        id="heartbeat-above-default-timeout",
    ),
    pytest.param(
        "name: t\nsettings: {heartbeat_ms: 100, link_timeout_ms: 300}\n"
        "nodes:\n  - a\n  - name: b\n    settings:\n      heartbeat_ms: 300\n",
        7,
        "nodes[1].settings.heartbeat_ms",
        "link_timeout_ms (300) must be greater than heartbeat_ms (300)",
        id="node-heartbeat-vs-cluster-timeout",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD)
def test_bad_topology(text: str, line: int | None, field: str | None, message: str) -> None:
    err = error(text)
    assert (err.file, err.line, err.field, err.message) == ("t.yaml", line, field, message)
    where = "t.yaml" if line is None else f"t.yaml:{line}"
    assert str(err) == ": ".join([where] + ([field] if field else []) + [message])


def test_error_string_format() -> None:
    assert str(TopologyError("topo.yaml", None, None, "file not found")) == (
        "topo.yaml: file not found"
    )
    assert str(TopologyError("a.yaml", 3, "nodes[1].port", "bad")) == (
        "a.yaml:3: nodes[1].port: bad"
    )
    assert str(TopologyError("a.yaml", 3, None, "bad")) == "a.yaml:3: bad"


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value) == f"{path}: file not found"
    assert (info.value.line, info.value.field) == (None, None)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as info:
        load_topology(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, expected a YAML file"


def test_load_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "topo.yaml"
    path.write_text("name: t\nnodes:\n  - name: a\n    port: 1\n")
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value) == (
        f"{path}:4: nodes[0].port: expected a port between 1024 and 65535, found 1"
    )


def test_linger_is_a_bounded_number_of_milliseconds():
    t = parse_topology("name: x\nsettings: {linger_ms: 0.5}\nnodes: [a]\n")
    assert t.nodes[0].settings.linger_ms == 0.5
    with pytest.raises(TopologyError, match=r"linger_ms: expected a number <= 100.0, found 500"):
        parse_topology("name: x\nsettings: {linger_ms: 500}\nnodes: [a]\n")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (FIVE + "links: []\n", 3, "the nodes form 5 groups that cannot reach each other"),
        (
            FIVE + "links:\n  - [a, b]\n  - [c, d]\n  - [d, e]\n",
            3,
            "2 groups that cannot reach each other (a, b; c, d, e)",
        ),
    ],
)
def test_islands_are_refused_unless_allowed(text: str, line: int, message: str) -> None:
    with pytest.raises(TopologyError) as err:
        parse(text)
    assert err.value.line == line and message in str(err.value)
    assert "allow_disconnected: true" in str(err.value)
    assert len(parse(text + "allow_disconnected: true\n").nodes) == 5


def test_a_topology_needing_more_ports_than_there_are_is_refused() -> None:
    names = ", ".join(f"n{i}" for i in range(200))
    with pytest.raises(TopologyError, match="200 nodes and 19,900 links need 40,000 ports"):
        parse(f"name: big\nnodes: [{names}]\n")
    assert len(parse(f"name: big\nproxies: false\nnodes: [{names}]\n").nodes) == 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: t\nnodes: [a]\nx: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            + "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            + "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            + "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "YAML aliases expand to more than 100,000 nodes",
        ),
        ("name: t\nnodes: [a]\nx: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32"),
        (  # 10 levels a line, 40 through aliases: deep only where the aliases are expanded
            "name: t\nnodes: [a]\na: &a "
            + "[" * 10
            + "1"
            + "]" * 10
            + "\n"
            + "".join(
                f"{k}: &{k} " + "[" * 10 + f"*{p}" + "]" * 10 + "\n"
                for p, k in (("a", "b"), ("b", "c"), ("c", "d"))
            )
            + "z: *a\n",  # seen first, shallow: only the expanded depth shows the nesting
            "nested deeper than 32",
        ),
        ("name: t\nnodes: [a]\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32"),
        ("name: t\nnodes: [a]\nx: &a [*a]\n", "a YAML alias refers to a node that holds it"),
    ],
    ids=["alias bomb", "nested 40", "nested 40 through aliases", "nested 5000", "recursive"],
)
def test_yaml_bombs_and_deep_nesting_are_refused_at_once(text: str, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        parse(text)


def test_the_proxy_names_are_reserved_for_node_names():
    from cluster.render import PROXY, PROXY_ALIAS
    from cluster.topology import RESERVED_NAMES

    assert {PROXY, PROXY_ALIAS} <= set(RESERVED_NAMES)
