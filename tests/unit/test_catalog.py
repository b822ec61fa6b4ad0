"""Built-in topologies, topology name resolution, `cluster topologies` and `cluster init`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.catalog import builtin_dir, builtin_names, resolve_topology, starter
from cluster.cli import main
from cluster.errors import ClusterError
from cluster.topology import TopologyError, load_topology, parse_topology

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "topology").glob("*.yaml"))


def test_every_shipped_topology_is_a_builtin_with_a_description() -> None:
    assert builtin_names() == SHIPPED and "mesh3" in SHIPPED
    for name in SHIPPED:
        t = load_topology(builtin_dir() / f"{name}.yaml")
        assert t.name == name
        assert t.description and "\n" not in t.description


@pytest.mark.parametrize("arg", ["mesh3", "mesh3.yaml", "mesh3.yml"])
def test_a_builtin_resolves_by_name_from_anywhere(arg, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_topology(arg) == builtin_dir() / "mesh3.yaml"


def test_a_path_that_exists_wins_over_a_builtin(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mesh3.yaml").write_text("name: mine\nnodes: [x, y]\n")
    assert resolve_topology("mesh3.yaml") == Path("mesh3.yaml")
    assert load_topology(resolve_topology("mesh3.yaml")).name == "mine"
    assert main(["validate", "mesh3.yaml"]) == 0
    # A name with a directory in it is only ever a path.
    with pytest.raises(TopologyError, match="file not found"):
        resolve_topology("elsewhere/mesh3.yaml")


def test_an_unknown_name_lists_the_builtins_and_exits_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "mesh4.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mesh4.yaml: file not found")
    assert "built-in topologies: " + ", ".join(SHIPPED) in err
    assert "Traceback" not in err
    Path("mine.yaml").write_text("name: mine\nnodes: [x]\n")
    assert main(["validate", "mine"]) == 2
    assert "did you mean mine.yaml?" in capsys.readouterr().err


def test_topologies_json_lists_every_builtin(capsys) -> None:
    assert main(["topologies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == SHIPPED
    mesh3 = next(r for r in rows if r["name"] == "mesh3")
    assert mesh3["nodes"] == 3 and mesh3["shape"] == "full-mesh" and mesh3["description"]
    assert main(["topologies"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table[: len(SHIPPED)]] == SHIPPED


def test_init_writes_a_valid_file_and_never_overwrites(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "demo"]) == 0
    written = Path("demo.yaml").read_text()
    t = load_topology("demo.yaml")
    assert (t.name, len(t.nodes), t.shape) == ("demo", 3, "full-mesh")
    assert main(["validate", "demo.yaml"]) == 0
    capsys.readouterr()
    assert main(["init", "demo", "--nodes", "5"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert Path("demo.yaml").read_text() == written


def test_init_from_nodes_and_shape(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "ring.yaml", "--from", "mesh3", "--nodes", "5", "--shape", "ring"]) == 0
    t = load_topology("ring.yaml")
    assert (t.name, t.names(), t.shape) == ("ring", [f"node-{c}" for c in "abcde"], "ring")
    assert len(t.links) == 5
    # Per-node settings of the base survive; a star keeps its hub only while it has it.
    assert main(["init", "p4", "--from", "pair", "--nodes", "4"]) == 0
    p4 = load_topology("p4.yaml")
    assert p4.node("node-a").settings.durability == "sync" and len(p4.links) == 6
    star = parse_topology(starter("s", "s.yaml", "star5", nodes=2))
    assert star.shape == "star" and star.links == [("node-a", "node-b")]


def test_init_refuses_what_it_cannot_make(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ClusterError, match="give --shape too"):
        starter("x", "x.yaml", "explicit", nodes=4)
    with pytest.raises(ClusterError, match="at least 1"):
        starter("x", "x.yaml", nodes=0)
    with pytest.raises(TopologyError, match="--from mesh9: no built-in"):
        starter("x", "x.yaml", "mesh9")
    assert main(["init", "Bad"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith("remesh ")
