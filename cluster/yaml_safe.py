"""Reading untrusted YAML: a topology file is a few KB, so anything that expands into a
huge or absurdly deep document (aliases of aliases, the "billion laughs") is refused
before anything walks or validates the expanded tree, and every problem is one
``YamlProblem`` with a line, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

MAX_TEXT = 1 << 20  # bytes of YAML; a MB is already absurd for a topology
MAX_EXPANDED = 100_000  # YAML nodes once aliases are expanded
MAX_DEPTH = 32


def check_flow_depth(text: str) -> None:
    """A quick look before the YAML scanner, which spends seconds on thousands of nested
    ``[`` or ``{``: count flow brackets outside quotes (conservative for block style, which
    the composed-tree check below covers)."""
    depth = line = 0
    quote = ""
    for ch in text:
        if ch == "\n":
            line += 1
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlProblem(line + 1, f"nested deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth = max(0, depth - 1)


class YamlProblem(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def compose(text: str, check: Callable[[yaml.Node], None]) -> tuple[yaml.Node | None, Any]:
    """Parse once into both a node tree (for line numbers) and plain data, within budget;
    ``check`` sees the tree (e.g. for duplicate keys) before any data is built."""
    if len(text) > MAX_TEXT:
        raise YamlProblem(None, f"{len(text):,} bytes; a topology is under 1 MiB")
    check_flow_depth(text)
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise YamlProblem(None, f"nested deeper than {MAX_DEPTH} levels") from None
        if root is None:
            return None, None
        check_budget(root)
        check(root)
        return root, loader.construct_document(root)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
        raise YamlProblem(mark.line + 1 if mark else None, msg) from None
    finally:
        loader.dispose()


def check_budget(root: yaml.Node) -> None:
    """Raise YamlProblem when the document expands past MAX_EXPANDED nodes, nests deeper
    than MAX_DEPTH, or refers to itself. Aliases make the node graph a DAG whose expansion
    can be exponential in its size, so sizes and depths are computed once per distinct
    node, children before parents (an iterative post-order: linear, and no deep Python
    recursion however the file is built)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being measured: a path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        kids = _children(node)
        if not children_done:
            if key in open_:
                raise YamlProblem(_line(node), "a YAML alias refers to a node that holds it")
            open_.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
            continue
        open_.discard(key)
        size[key] = 1 + sum(size[id(k)] for k in kids)
        depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
        if depth[key] > MAX_DEPTH:
            raise YamlProblem(_line(node), f"nested deeper than {MAX_DEPTH} levels")
        if size[key] > MAX_EXPANDED:
            raise YamlProblem(
                _line(node), f"YAML aliases expand to more than {MAX_EXPANDED:,} nodes"
            )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
