"""Built-in topologies, how a topology argument names a file, and starter files.

The shipped ``topology/*.yaml`` are the package ``cluster.topologies`` (pyproject.toml maps
the repository's directory onto it), so an installed remesh finds them with
``importlib.resources`` wherever it runs, and an editable install reads the repository's
own files. Every verb that takes a topology file resolves its argument here, in order:

1. a path that exists (so a file of your own always wins over a built-in);
2. a built-in topology of that name, given as ``NAME`` or ``NAME.yaml``;
3. else a :class:`~cluster.topology.TopologyError` that lists the built-ins (exit 2).
"""

from __future__ import annotations

import os
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import ClusterError
from cluster.generated import parse_generated
from cluster.topology import SHAPES, Topology, TopologyError, load_topology
from node.settings import NodeSettings

PACKAGE = "cluster.topologies"
SUFFIXES = (".yaml", ".yml")


def builtin_dir() -> Path:
    root = resources.files(PACKAGE)
    if not isinstance(root, Path):  # a zipped install, which pip never makes
        raise ClusterError(f"built-in topologies are not files on disk here ({root})")
    return root


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def builtin_path(name: str, label: str | None = None) -> Path:
    """The built-in topology ``name`` (``NAME`` or ``NAME.yaml``); TopologyError if none,
    naming ``label`` (say, the option that gave the name) or else the name."""
    stem = _stem(name)
    if stem is None or stem not in builtin_names():
        where = label or name
        raise TopologyError(where, None, None, f"no built-in topology {name!r}; {_listing()}")
    return builtin_dir() / f"{stem}.yaml"


def resolve_topology(arg: str | Path) -> Path:
    """The file a topology argument names: an existing path, else a built-in of that name."""
    path = Path(arg)
    if path.exists():
        return path
    stem = _stem(str(arg))
    if stem is not None and stem in builtin_names():
        return builtin_dir() / f"{stem}.yaml"
    sibling = path.with_name(path.name + ".yaml")
    hint = f" (did you mean {sibling}?)" if not path.suffix and sibling.is_file() else ""
    raise TopologyError(
        str(arg), None, None, f"file not found{hint}, and not a built-in; {_listing()}"
    )


def builtins() -> list[Topology]:
    """Every built-in topology, validated, in name order."""
    return [load_topology(builtin_dir() / f"{name}.yaml") for name in builtin_names()]


def _stem(arg: str) -> str | None:
    """``mesh3`` of ``mesh3`` or ``mesh3.yaml``; None for anything with a directory in it."""
    if os.sep in arg or "/" in arg:
        return None
    for suffix in SUFFIXES:
        if arg.endswith(suffix):
            return arg[: -len(suffix)]
    return arg


def _listing() -> str:
    names = ", ".join(builtin_names())
    return f"built-in topologies: {names} (`cluster topologies` describes them)"


# ------------------------------------------------------------------ starter files
def starter(
    name: str,
    file: str,
    base: str = "mesh3",
    nodes: int | None = None,
    shape: str | None = None,
) -> str:
    """The text of ``file``, a topology to edit: the built-in ``base`` renamed ``name``, with
    ``nodes`` nodes and ``shape`` links when given. It is validated before it is returned."""
    raw: dict[str, Any] = yaml.safe_load(builtin_path(base, f"--from {base}").read_text())
    old = [entry if isinstance(entry, str) else entry["name"] for entry in raw["nodes"]]
    if nodes is not None and nodes != len(old):
        if nodes < 1:
            raise ClusterError(f"--nodes: expected at least 1, found {nodes}")
        if isinstance(raw.get("links"), list) and shape is None:
            raise ClusterError(
                f"--nodes: {base} lists its links one by one; give --shape too "
                f"({', '.join(SHAPES)}) or edit the links in the file afterwards"
            )
        raw["nodes"] = raw["nodes"][:nodes] + _new_names(nodes - len(old), set(old))
    if shape is not None:
        if shape not in SHAPES:
            raise ClusterError(f"--shape: expected one of {', '.join(SHAPES)}, found {shape!r}")
        raw["links"] = shape
    names = [entry if isinstance(entry, str) else entry["name"] for entry in raw["nodes"]]
    if raw.get("links", "full-mesh") != "star" or raw.get("hub") not in names:
        raw.pop("hub", None)
    count, links = len(names), raw.get("links", "full-mesh")
    raw = {
        "name": name,
        "description": f"{count} nodes, {links if isinstance(links, str) else 'explicit'} "
        f"links; made by cluster init from {base}",
        **{k: v for k, v in raw.items() if k not in ("name", "description")},
    }
    text = _header(name, file, base) + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None)
    parse_generated(text, f"cluster init {name}")
    return text


def _new_names(count: int, taken: set[str]) -> list[str]:
    """``count`` more node names in the shipped style: node-a .. node-z, node-aa, ..."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        i += 1
        letters, n = "", i
        while n:  # bijective base 26: 1 -> a, 26 -> z, 27 -> aa
            n, r = divmod(n - 1, 26)
            letters = chr(ord("a") + r) + letters
        if f"node-{letters}" not in taken:
            out.append(f"node-{letters}")
    return out


def _header(name: str, file: str, base: str) -> str:
    settings = textwrap.wrap(", ".join(NodeSettings.model_fields), 76)
    lines = [
        f"Topology {name}, made by `cluster init` from the built-in {base}. Edit it, then",
        f"  cluster validate {file} && cluster up {file}",
        "Keys: name, description, tenant, links (full-mesh | ring | line | star |",
        "  [[node-a, node-b], ...]), hub (star only), proxies (links through the fault",
        "  proxy), settings (for every node), nodes (names, or {name, port, settings}).",
        "Settings (bounds and defaults: the remesh README, 'Topology files'):",
        *(f"  {line}" for line in settings),
    ]
    return "".join(f"# {line}\n" for line in lines)
