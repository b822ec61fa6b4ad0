"""Topology verbs: ``topologies`` (the built-ins) and ``init`` (a starter file to edit)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cluster.argtypes import int_range
from cluster.catalog import SUFFIXES, builtin_dir, builtins, starter
from cluster.commands import AddVerb
from cluster.errors import ClusterError
from cluster.reach import MAX_PORTS
from cluster.topology import SHAPES


def topologies(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": t.name,
            "description": " ".join(t.description.split()),
            "nodes": len(t.nodes),
            "links": len(t.links),
            "shape": t.shape,
            "path": t.source,
        }
        for t in builtins()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(str(r["name"])) for r in rows)
    for r in rows:
        shape = f"{r['nodes']} nodes, {r['shape']}"
        print(f"{r['name']:<{width}}  {shape:<20} {r['description']}")
    print("\n`cluster up NAME` starts one; `cluster init NEW --from NAME` copies one to edit.")
    print(f"(files in {builtin_dir()})")
    return 0


def init(args: argparse.Namespace) -> int:
    target = Path(args.name)  # a name, or a path: its last part names the cluster
    if not target.name:
        raise ClusterError(f"{args.name!r}: expected a cluster name, or a path ending in one")
    if target.suffix in SUFFIXES:
        name = target.stem
    else:
        name, target = target.name, target.with_name(f"{target.name}.yaml")
    text = starter(name, str(target), args.base, args.nodes, args.shape)
    try:
        with target.open("x", encoding="utf-8") as f:  # never replaces a file
            f.write(text)
    except FileExistsError:
        raise ClusterError(f"{target}: already exists; not overwritten (remove it first)") from None
    except OSError as exc:
        raise ClusterError(f"{target}: cannot write: {exc.strerror}") from None
    print(f"wrote {target}: cluster {name}; edit it, then `cluster up {target}`")
    return 0


def register(add: AddVerb) -> None:
    add("topologies", topologies, "the built-in topologies, one line each")
    sp = add("init", init, "write a starter topology file to edit (never overwrites)")
    sp.add_argument("name", help="cluster name; writes NAME.yaml (or give the file: NAME.yaml)")
    sp.add_argument(
        "--from", dest="base", default="mesh3", metavar="BUILTIN", help="start from this built-in"
    )
    sp.add_argument("--nodes", type=int_range(1, MAX_PORTS), help="this many nodes instead")
    sp.add_argument("--shape", choices=SHAPES, help="these links instead")
