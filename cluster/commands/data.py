"""Data verbs through one node: ``write``, ``read``, ``delete``, ``scan``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cluster.argtypes import key_bytes, non_negative_int
from cluster.commands import AddVerb, open_cluster
from cluster.errors import ClusterError


def _key_value(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """The key and the value: ``KEY VALUE``, ``KEY=VALUE``, ``KEY --file PATH`` (``-``:
    stdin), ``KEY --empty``, or ``KEY`` with the value piped on stdin. An empty stdin is
    an error (a forgotten value, not an empty one): ``--empty`` says so on purpose."""
    given = [n for n, v in (("VALUE", args.value), ("--file", args.file)) if v is not None]
    given += ["--empty"] if args.empty else []
    if len(given) > 1:
        raise ClusterError(f"give the value one way, not with {' and '.join(given)}")
    key = key_bytes(args.key)
    if args.empty:
        return key, b""
    if args.value is not None:
        return key, key_bytes(str(args.value))
    if args.file is not None:
        return key, _file(args.file)
    name, equals, value = key.partition(b"=")
    if equals and name:  # KEY=VALUE; a key holding '=' takes VALUE or --file
        return name, value
    if sys.stdin.isatty():
        raise ClusterError(
            "no value: give VALUE (or KEY=VALUE), --file PATH, --empty, or pipe it on stdin"
        )
    value = sys.stdin.buffer.read()
    if not value:
        raise ClusterError(
            "no value: stdin was empty; give VALUE (or KEY=VALUE) or --file PATH, "
            "or --empty to write an empty value"
        )
    return key, value


def _file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ClusterError(f"--file {path}: {exc.strerror}") from None


def write(args: argparse.Namespace) -> int:
    key, value = _key_value(args)
    v = open_cluster(args).write(args.node, key, value)
    if args.json:
        print(
            json.dumps(
                {
                    "node": args.node,
                    "key": key.decode(errors="replace"),
                    "bytes": len(value),
                    "hlc": v.hlc,
                    "origin": v.origin,
                    "seq": v.seq,
                }
            )
        )
    else:
        shown = key.decode(errors="replace")
        print(f"ok {args.node} {shown!r} ({len(value)} bytes) seq {v.seq} hlc {v.hlc}")
    return 0


def read(args: argparse.Namespace) -> int:
    value = open_cluster(args).read(args.node, key_bytes(args.key))
    if value is None:
        print(f"{args.key}: not found on {args.node}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(value + (b"" if args.raw else b"\n"))
    return 0


def delete(args: argparse.Namespace) -> int:
    """A tombstone is written whether or not the key was live on NODE: another member may
    hold a put of it that NODE has not received, and the tombstone (newer) must beat it."""
    r = open_cluster(args).delete(args.node, key_bytes(args.key))
    v = r.version
    if args.json:
        out = {"node": args.node, "key": args.key, "absent": r.absent, "tombstone": True}
        print(json.dumps({**out, "hlc": v.hlc, "origin": v.origin, "seq": v.seq}))
    elif r.absent:
        print(
            f"{args.key} was absent on {args.node}; a tombstone was written anyway (seq {v.seq} "
            f"hlc {v.hlc}): it beats any older put of it {args.node} has not received yet"
        )
    else:
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
    sp = add("write", write, "write KEY VALUE (or KEY=VALUE) through NODE")
    sp.add_argument("node")
    sp.add_argument(
        "key",
        help="the key; KEY=VALUE splits at the first '=' when neither VALUE nor --file is given",
    )
    sp.add_argument(
        "value", nargs="?", help="the value (else --file, --empty, or stdin; empty stdin fails)"
    )
    sp.add_argument("--file", help="read the value from a file ('-' for stdin)")
    sp.add_argument("--empty", action="store_true", help="write an empty value")
    sp = add("read", read, "print KEY's value at NODE (exit 1 when absent)")
    sp.add_argument("node")
    sp.add_argument("key")
    sp.add_argument("--raw", action="store_true", help="no trailing newline (binary values)")
    sp = add(
        "delete", delete, "delete KEY through NODE (a tombstone, also when NODE lacks the key)"
    )
    sp.add_argument("node")
    sp.add_argument("key")
    sp = add("scan", scan, "list keys under PREFIX at NODE")
    sp.add_argument("node")
    sp.add_argument("prefix", nargs="?", default="")
    sp.add_argument("--limit", type=non_negative_int, default=0, help="0: no limit")
