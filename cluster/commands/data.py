"""Data verbs through one node: ``write``, ``read``, ``delete``, ``scan``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cluster.argtypes import key_bytes, non_negative_int
from cluster.commands import AddVerb, open_cluster
from cluster.errors import ClusterError


def _value(args: argparse.Namespace) -> bytes:
    """The value: the argument, ``--file PATH`` (``-`` for stdin), or piped stdin."""
    if args.value is not None and args.file is not None:
        raise ClusterError("give the value either as an argument or with --file, not both")
    if args.file is not None:
        if args.file == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(args.file).read_bytes()
        except OSError as exc:
            raise ClusterError(f"--file {args.file}: {exc.strerror}") from None
    if args.value is None:
        if sys.stdin.isatty():
            raise ClusterError("no value: give VALUE, --file PATH or pipe it on stdin")
        return sys.stdin.buffer.read()
    return key_bytes(str(args.value))


def write(args: argparse.Namespace) -> int:
    v = open_cluster(args).write(args.node, key_bytes(args.key), _value(args))
    if args.json:
        print(
            json.dumps(
                {"node": args.node, "key": args.key, "hlc": v.hlc, "origin": v.origin, "seq": v.seq}
            )
        )
    else:
        print(f"ok {args.node} seq {v.seq} hlc {v.hlc}")
    return 0


def read(args: argparse.Namespace) -> int:
    value = open_cluster(args).read(args.node, key_bytes(args.key))
    if value is None:
        print(f"{args.key}: not found on {args.node}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(value + (b"" if args.raw else b"\n"))
    return 0


def delete(args: argparse.Namespace) -> int:
    v = open_cluster(args).delete(args.node, key_bytes(args.key))
    print(f"deleted {args.key} on {args.node} seq {v.seq} hlc {v.hlc}")
    return 0


def scan(args: argparse.Namespace) -> int:
    items = open_cluster(args).scan(args.node, key_bytes(args.prefix), args.limit)
    if args.json:
        rows = [
            {
                "key": i.key.decode(errors="replace"),
                "value": i.value.decode(errors="replace"),
                "hlc": i.version.hlc,
                "origin": i.version.origin,
            }
            for i in items
        ]
        print(json.dumps(rows, indent=2))
    else:
        for i in items:
            print(f"{i.key.decode(errors='replace')}\t{i.value.decode(errors='replace')}")
    return 0


def register(add: AddVerb) -> None:
    sp = add("write", write, "write KEY=VALUE through NODE")
    sp.add_argument("node")
    sp.add_argument("key")
    sp.add_argument("value", nargs="?")
    sp.add_argument("--file", help="read the value from a file ('-' for stdin)")
    sp = add("read", read, "print KEY's value at NODE (exit 1 when absent)")
    sp.add_argument("node")
    sp.add_argument("key")
    sp.add_argument("--raw", action="store_true", help="no trailing newline (binary values)")
    sp = add("delete", delete, "delete KEY through NODE")
    sp.add_argument("node")
    sp.add_argument("key")
    sp = add("scan", scan, "list keys under PREFIX at NODE")
    sp.add_argument("node")
    sp.add_argument("prefix", nargs="?", default="")
    sp.add_argument("--limit", type=non_negative_int, default=0, help="0: no limit")
