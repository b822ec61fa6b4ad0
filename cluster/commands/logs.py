"""``logs``: a node's log, or the link proxy's (``-f`` follows it like ``tail -f``)."""

from __future__ import annotations

import argparse
import sys
import time

from cluster.commands import AddVerb, open_cluster
from cluster.errors import OperationFailed


def logs(args: argparse.Namespace) -> int:
    path = open_cluster(args).log_path(args.node)
    if not path.exists():
        raise OperationFailed(f"no log yet at {path}")
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-args.lines :] if args.lines else lines))
        sys.stdout.flush()
        if args.follow:
            try:
                while True:
                    chunk = f.read()
                    if chunk:
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)  # polling a file for new lines, like tail -f
            except KeyboardInterrupt:
                return 0
    return 0


def register(add: AddVerb) -> None:
    sp = add("logs", logs, "print a node's log (or 'proxy')")
    sp.add_argument("node")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument("-n", "--lines", type=int, default=0)
