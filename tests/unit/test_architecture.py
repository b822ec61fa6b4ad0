"""The layout keeps its promises: no import cycles, small modules, narrow seams.

Read from the source with ``ast``, nothing is imported: an import anywhere in a
module counts, a late one inside a function included (not one under `if TYPE_CHECKING:`,
which only annotations see).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 450
# What cluster may use of node: the wire stubs, the settings schema, the token's wire form.
NODE_ALLOWED = ("node.pb", "node.settings", "node.api.bearer", "node.api.challenge")
# Cluster's parts: only the facade itself may touch them.
FACADE_PRIVATE = {"_state", "_backend", "_clients"}


def modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


CLUSTER = modules("cluster")
NODE = {n: p for n, p in modules("node").items() if not n.startswith("node.pb")}  # pb: generated


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """Every module ``path`` imports (``from a import b`` is ``a.b`` when that is a module)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {  # `if TYPE_CHECKING:` imports are for annotations: no runtime cycle
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle (as a path that ends where it starts), by depth-first search."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append(path[path.index(name) :] + [name])
            return
        if name in done:
            return
        for dep in sorted(graph.get(name, ())):
            visit(dep, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return found


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_cluster_modules() -> None:
    graph = {name: imported(path, CLUSTER) & set(CLUSTER) for name, path in CLUSTER.items()}
    assert cycles(graph) == []


def test_cluster_uses_only_the_wire_stubs_and_the_settings_of_node() -> None:
    wrong = {
        f"{name} imports {dep}"
        for name, path in CLUSTER.items()
        for dep in imported(path, CLUSTER)
        if dep.split(".")[0] == "node" and not dep.startswith(NODE_ALLOWED)
    }
    assert not wrong


@pytest.mark.parametrize("name", sorted(CLUSTER) + sorted(NODE))
def test_no_module_is_too_long(name: str) -> None:
    lines = len({**CLUSTER, **NODE}[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by what it holds"


def test_no_import_cycle_among_node_modules() -> None:
    graph = {name: imported(path, NODE) & set(NODE) for name, path in NODE.items()}
    assert cycles(graph) == []


def reached(start: str, graph: dict[str, set[str]]) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_reached_follows_indirect_imports() -> None:
    assert reached("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == {"a", "b", "c"}


def test_the_replication_protocol_is_pure() -> None:
    """node/protocol: no sockets, no clock, no disk, no asyncio, no configuration files:
    state machines only. It imports only itself and the wire stubs, so nothing impure
    comes in indirectly either (a node module would bring its own imports)."""
    impure = ("grpc", "asyncio", "socket", "time", "os", "plyvel", "yaml", "pydantic")
    graph = {name: imported(path, NODE) for name, path in NODE.items()}
    protocol = [name for name in NODE if name.startswith("node.protocol")]
    wrong = {
        f"{name} imports {dep}"
        for name in protocol
        for dep in graph[name]
        if dep.split(".")[0] in impure
        or (dep.split(".")[0] == "node" and not dep.startswith(("node.protocol", "node.pb")))
    }
    assert not wrong
    assert all(
        reached(name, {n: graph[n] & set(NODE) for n in NODE}) <= set(protocol) for name in protocol
    )


def test_nothing_outside_the_facade_reads_its_parts() -> None:
    facade = ROOT / "cluster/api.py"
    sources = [*CLUSTER.values(), *sorted((ROOT / "tests").rglob("*.py"))]
    wrong = [
        f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}"
        for path in sources
        if path != facade
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in FACADE_PRIVATE
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert not wrong


def test_no_file_holds_a_merge_conflict_marker() -> None:
    """Scripts and docs are not imported by any test: a marker left there would only show
    when CI runs the script (it did once, in ci/test)."""
    markers = ("<<<<<<< ", ">>>>>>> ")
    wrong = []
    for folder in ("ci", "cluster", "node", "tests", "topology", "proto", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix not in (".pyc",) and "pb" not in path.parts:
                text = path.read_text(errors="replace")
                wrong += [
                    f"{path.relative_to(ROOT)}:{i}"
                    for i, line in enumerate(text.splitlines(), 1)
                    if line.startswith(markers)
                ]
    for name in ("README.md", "pyproject.toml", ".ci/run"):
        lines = (ROOT / name).read_text().splitlines()
        wrong += [f"{name}:{i}" for i, line in enumerate(lines, 1) if line.startswith(markers)]
    assert not wrong


def test_no_backend_is_named_outside_the_backends_package() -> None:
    """A new backend is one package and one line in cluster/backends/registry.py: nothing
    else names one (a string equal to its name) or imports its implementation."""
    from cluster.backends.registry import BACKENDS

    packages = tuple(f"cluster.backends.{name}" for name in BACKENDS)
    wrong = []
    for name, path in CLUSTER.items():
        if name.startswith("cluster.backends"):
            continue
        wrong += [
            f"{name} imports {dep}" for dep in imported(path, CLUSTER) if dep.startswith(packages)
        ]
        wrong += [
            f"{name}:{node.lineno}: {node.value!r}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in BACKENDS
        ]
    assert not wrong


def test_every_registered_backend_implements_the_protocol() -> None:
    from cluster.backends.base import Backend
    from cluster.backends.registry import BACKENDS, _load

    members = [m for m in vars(Backend) if not m.startswith("_")]
    for traits in BACKENDS.values():
        implementation = _load(traits.implementation)
        assert [m for m in members if not hasattr(implementation, m)] == [], traits.name


# node/ by role: what each room may not import (a room below never reaches up)
LAYERS = {
    "node.storage": ("node.api", "node.replication", "node.replica", "node.app", "node.tools"),
    "node.observability.metrics": ("node.api", "node.replication", "node.storage"),
    "node.observability.histogram": ("node.api", "node.replication", "node.storage"),
}


def test_node_rooms_import_only_what_is_below_them() -> None:
    """Storage knows nothing of the API or replication; the metric tables nothing of the
    rooms they count; nothing in the runtime imports the tools (benchmarks)."""
    wrong = []
    for name, path in NODE.items():
        below = [deps for room, deps in LAYERS.items() if name.startswith(room)]
        if not name.startswith("node.tools"):
            below.append(("node.tools",))
        for dep in imported(path, NODE):
            wrong += [f"{name} imports {dep}" for deps in below if dep.startswith(deps)]
    assert not wrong
