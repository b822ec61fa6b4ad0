"""Topology model: a YAML file that names a cluster, its nodes, their links and node settings.

Validation is strict (YAML already types scalars, so `"9701"` is never silently a port) and
every error says which file, which line and which field, what was expected and what was found:
a person fixing a topology should never need a traceback. Line numbers come from the composed
YAML node tree, onto which pydantic error locations and our own cross-field checks are mapped.
Node settings and the name rule are ``node.settings``'s, the schema a node's own config uses.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cluster.backends.registry import DEFAULT, traits
from cluster.reach import reach_problem
from cluster.yaml_safe import YamlProblem, compose
from node.settings import NAME_RULE, Name, NodeSettings

SHAPES = ("full-mesh", "ring", "line", "star")


Loc = tuple[str | int, ...]


class TopologyError(Exception):
    """A topology a person must fix: where (file, line, field) and what was wrong."""

    def __init__(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where] + ([self.field] if self.field else []) + [self.message]
        return ": ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.line, self.field, self.message))


class NodeSpec(BaseModel):
    """One node as the cluster tool runs it; `port` None means allocate one at start."""

    model_config = ConfigDict(frozen=True)

    name: str
    port: int | None = None
    settings: NodeSettings = NodeSettings()


class Topology(BaseModel):
    """A validated topology: nodes in file order, links as undirected pairs in node order."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    tenant: str = "default"
    nodes: list[NodeSpec]
    links: list[tuple[str, str]]
    proxies: bool = True
    tls: bool = True  # mutual TLS between nodes and for the tool (cluster.secrets)
    shape: str
    source: str = "<string>"
    backend: str = DEFAULT  # what runs the processes: a name in cluster.backends.registry

    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise TopologyError(self.source, None, None, _unknown_node(name, self.names()))

    def peers(self, name: str) -> list[str]:
        """Direct neighbours of `name`, in node order."""
        self.node(name)
        near = {b for a, b in self.links if a == name} | {a for a, b in self.links if b == name}
        return [n for n in self.names() if n in near]

    def directed_links(self) -> list[tuple[str, str]]:
        """Every link both ways: replication streams and fault proxies are per direction."""
        return [d for a, b in self.links for d in ((a, b), (b, a))]


class _NodeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    port: int | None = Field(None, ge=1024, le=65535)
    settings: dict[str, Any] = {}


class _TopologyFile(BaseModel):
    """The file as written; cross-field checks happen in `_build` where we know the lines."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    description: str = Field("", max_length=200)  # one line for `cluster topologies`
    tenant: Name = "default"
    links: Any = "full-mesh"
    hub: Name | None = None
    proxies: bool = True
    tls: bool = True  # false: plaintext, the token proved by challenge (README, Security)
    backend: str = DEFAULT
    allow_disconnected: bool = False
    settings: NodeSettings = NodeSettings()
    nodes: list[_NodeEntry] = Field(min_length=1)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        traits(v)  # ValueError naming the known ones
        return v

    @field_validator("nodes", mode="before")
    @classmethod
    def _bare_names(cls, v: Any) -> Any:
        # `- node-b` is shorthand for `- name: node-b`.
        return [{"name": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


_KEYS = {
    "top": list(_TopologyFile.model_fields),
    "node": list(_NodeEntry.model_fields),
    "settings": list(NodeSettings.model_fields),
}
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}
_MISSING_HINT: dict[Loc, str] = {
    ("name",): "the cluster name, e.g. 'name: mesh3'",
    ("nodes",): "a list of nodes, e.g. 'nodes: [node-a, node-b]'",
}


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError(source, None, None, "file not found") from None
    except IsADirectoryError:
        raise TopologyError(source, None, None, "is a directory, expected a YAML file") from None
    except UnicodeDecodeError as e:
        raise TopologyError(source, None, None, f"not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise TopologyError(source, None, None, f"cannot read file: {e.strerror}") from None
    return parse_topology(text, source)


def parse_topology(text: str, source: str = "<string>") -> Topology:
    """Validate topology YAML `text`; `source` names it in errors (``cluster.generated``:
    text the tool made, whose errors name no line)."""
    root, data = _compose(text, source)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else _describe(data)
        line = root.start_mark.line + 1 if root is not None else None
        msg = f"expected a mapping with 'name' and 'nodes' at the top level, found {found}"
        raise TopologyError(source, line, None, msg)
    try:
        raw = _TopologyFile.model_validate(data)
    except ValidationError as e:
        raise _from_pydantic(e, (), root, source) from None
    return _build(raw, root, source)


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """Parse once into both a node tree (for line numbers) and plain data."""
    try:
        return compose(text, lambda root: _check_duplicate_keys(root, source))
    except YamlProblem as e:
        raise TopologyError(source, e.line, None, e.message) from None


def _check_duplicate_keys(node: yaml.Node, source: str, loc: Loc = ()) -> None:
    # PyYAML keeps the last of two equal keys silently; a typo'd second `nodes:` would vanish.
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            line = k.start_mark.line + 1
            if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                if k.value in seen:
                    msg = f"duplicate key '{k.value}' (first on line {seen[k.value]})"
                    raise TopologyError(source, line, _field(loc + (k.value,)), msg)
                seen[k.value] = line
            _check_duplicate_keys(v, source, loc + (str(k.value),))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, source, loc + (i,))


_Fail = Callable[[Loc, str], TopologyError]


def _build(raw: _TopologyFile, root: yaml.Node | None, source: str) -> Topology:
    """Cross-field checks pydantic cannot place on a line: names, ports, links, hub."""

    def fail(loc: Loc, message: str) -> TopologyError:
        return TopologyError(source, _line(root, loc), _field(loc), message)

    nodes = _nodes(raw, root, source, fail)
    rank = {n.name: i for i, n in enumerate(nodes)}
    shape, pairs = _links(raw, rank, root, fail)
    # Canonical form: each pair and the list in node order, whatever the shape or file order.
    links = [(a, b) if rank[a] < rank[b] else (b, a) for a, b in pairs]
    links.sort(key=lambda p: (rank[p[0]], rank[p[1]]))
    problem = reach_problem([n.name for n in nodes], links, raw.proxies, raw.allow_disconnected)
    if problem:
        raise fail(problem[0], problem[1])
    return Topology(
        name=raw.name,
        description=raw.description,
        tenant=raw.tenant,
        nodes=nodes,
        links=links,
        proxies=raw.proxies,
        tls=raw.tls,
        shape=shape,
        source=source,
        backend=raw.backend,
    )


# Names the tool gives its own processes: the link proxy under supervisord and on a
# container network (cluster.render.PROXY, PROXY_ALIAS). A node of that name would clash.
RESERVED_NAMES = ("proxy", "remesh-proxy")


def _nodes(raw: _TopologyFile, root: yaml.Node | None, source: str, fail: _Fail) -> list[NodeSpec]:
    first_name: dict[str, int] = {}
    first_port: dict[int, int] = {}
    nodes: list[NodeSpec] = []
    for i, entry in enumerate(raw.nodes):
        if entry.name in RESERVED_NAMES:
            raise fail(
                ("nodes", i, "name"),
                f"'{entry.name}' is the link proxy's name: pick another node name",
            )
        if entry.name in first_name:
            line = _line(root, ("nodes", first_name[entry.name]))
            raise fail(
                ("nodes", i, "name"), f"duplicate node name '{entry.name}' (first on line {line})"
            )
        first_name[entry.name] = i
        if entry.port is not None:
            if entry.port in first_port:
                j = first_port[entry.port]
                line = _line(root, ("nodes", j, "port"))
                owner = raw.nodes[j].name
                raise fail(
                    ("nodes", i, "port"),
                    f"duplicate port {entry.port}: node '{owner}' uses it on line {line}",
                )
            first_port[entry.port] = i
        try:
            settings = raw.settings.merged(entry.settings)
        except ValidationError as e:
            raise _from_pydantic(e, ("nodes", i, "settings"), root, source) from None
        nodes.append(NodeSpec(name=entry.name, port=entry.port, settings=settings))
    return nodes


def _links(
    raw: _TopologyFile, rank: dict[str, int], root: yaml.Node | None, fail: _Fail
) -> tuple[str, list[tuple[str, str]]]:
    order = list(rank)
    if isinstance(raw.links, str):
        shape = raw.links
        if shape not in SHAPES:
            hint = _suggest(shape, SHAPES)
            msg = f"unknown shape '{shape}'{hint}; expected one of: {', '.join(SHAPES)}"
            raise fail(("links",), msg + ", or a list of node pairs")
        if raw.hub is not None and shape != "star":
            raise fail(("hub",), f"'hub' only applies to 'links: star', but links is '{shape}'")
        hub = raw.hub if raw.hub is not None else order[0]
        if hub not in rank:
            raise fail(("hub",), _unknown_node(hub, order))
        return shape, _shape_pairs(shape, order, hub)
    if not isinstance(raw.links, list):
        msg = f"expected one of {', '.join(SHAPES)} or a list of node pairs"
        raise fail(("links",), f"{msg}, found {_describe(raw.links)}")
    if raw.hub is not None:
        raise fail(("hub",), "'hub' only applies to 'links: star', but links is a list")
    first: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(raw.links):
        if not (isinstance(pair, list) and len(pair) == 2):
            found = f"a list of {len(pair)}" if isinstance(pair, list) else _describe(pair)
            raise fail(("links", i), f"expected a pair like [node-a, node-b], found {found}")
        for j, end in enumerate(pair):
            if not isinstance(end, str):
                raise fail(("links", i, j), f"expected a node name, found {_describe(end)}")
            if end not in rank:
                raise fail(("links", i, j), _unknown_node(end, order))
        a, b = sorted(pair, key=rank.__getitem__)
        if a == b:
            raise fail(("links", i), f"a link needs two distinct nodes, found '{a}' twice")
        if (a, b) in first:
            line = _line(root, ("links", first[(a, b)]))
            raise fail(("links", i), f"duplicate link {a} <-> {b} (first on line {line})")
        first[(a, b)] = i
    return "explicit", list(first)


def _shape_pairs(shape: str, order: list[str], hub: str) -> list[tuple[str, str]]:
    if shape == "full-mesh":
        return list(itertools.combinations(order, 2))
    if shape == "star":
        return [(hub, n) for n in order if n != hub]
    line = list(itertools.pairwise(order))
    if shape == "ring" and len(order) >= 3:
        line.append((order[0], order[-1]))
    return line


def _from_pydantic(
    err: ValidationError, prefix: Loc, root: yaml.Node | None, source: str
) -> TopologyError:
    """First pydantic error as a TopologyError; `missing` ranks last, it has the vaguest line."""
    errors = sorted(err.errors(include_url=False), key=lambda e: e["type"] == "missing")
    e = errors[0]
    loc: Loc = prefix + tuple(e["loc"])
    kind, value, ctx = e["type"], e.get("input"), e.get("ctx") or {}
    if kind == "link_timeout":
        mapping = _node_at(root, loc)
        keys = [k.value for k, _ in mapping.value] if isinstance(mapping, yaml.MappingNode) else []
        loc += next(((k,) for k in ("link_timeout_ms", "heartbeat_ms") if k in keys), ())
        message = e["msg"]
    elif kind == "missing":
        hint = _MISSING_HINT.get(
            loc, "a node name, e.g. 'name: node-a'" if loc[-1] == "name" else None
        )
        message = "required field is missing" + (f": expected {hint}" if hint else "")
    elif kind == "extra_forbidden":
        group = "settings" if "settings" in loc[:-1] else "node" if loc[0] == "nodes" else "top"
        valid = _KEYS[group]
        message = f"unknown key{_suggest(str(loc[-1]), valid)}; valid keys: {', '.join(valid)}"
    elif kind == "string_pattern_mismatch":
        message = f"expected {NAME_RULE}; found {value!r}"
    elif kind == "too_short" and loc == ("nodes",):
        message = "expected at least one node, found an empty list"
    elif loc[-1] == "port" and kind in ("greater_than_equal", "less_than_equal"):
        message = f"expected a port between 1024 and 65535, found {value}"
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = f">= {ctx['ge']}" if "ge" in ctx else f"<= {ctx['le']}"
        message = f"expected a number {bound}, found {value}"
    elif kind == "value_error" and loc == ("backend",):  # its message names the known ones
        message = str(ctx["error"])
    elif kind == "literal_error":
        message = f"expected {ctx['expected']}, found {_describe(value)}"
    elif kind in _EXPECTED:
        what = _EXPECTED[kind]
        if loc[:1] == ("nodes",) and len(loc) == 2:
            what = "a node name or a mapping with 'name'"
        message = f"expected {what}, found {_describe(value)}"
    else:
        message = f"{e['msg']}, found {_describe(value)}"
    return TopologyError(source, _line(root, loc), _field(loc), message)


def _node_at(root: yaml.Node | None, loc: Loc) -> yaml.Node | None:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            return None
    return node


def _line(root: yaml.Node | None, loc: Loc) -> int | None:
    """Line of the deepest YAML node on `loc` that exists (a mapping entry's key line)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if k.value == part), None)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field(loc: Loc) -> str | None:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _suggest(word: str, options: Any) -> str:
    """A 'did you mean' hint, only when one option is clearly the closest."""
    score = {o: difflib.SequenceMatcher(None, word, o).ratio() for o in options}
    ranked = sorted(score, key=score.__getitem__, reverse=True)
    best = ranked[0] if ranked and score[ranked[0]] >= 0.6 else None
    if best is None or (len(ranked) > 1 and score[ranked[1]] == score[best]):
        return ""
    return f" (did you mean '{best}'?)"


def _unknown_node(name: str, known: list[str]) -> str:
    return f"unknown node '{name}'{_suggest(name, known)}; known nodes: {', '.join(known)}"
