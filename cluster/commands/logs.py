"""``logs``: a node's log, or the link proxy's (``-f`` follows it like ``tail -f``)."""

from __future__ import annotations

import argparse
import sys
import time

from cluster.commands import AddVerb, open_cluster
from cluster.errors import OperationFailed


def logs(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    path = c.log_path(args.node)
    if not path.exists():
        raise OperationFailed(f"no log yet at {path}")
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-args.lines :] if args.lines else lines))
        sys.stdout.flush()
        done = f.tell()
    if args.follow:
        try:
            while True:
                # Asked anew each time: a container's log is copied to the file on request.
                with open(c.log_path(args.node) if c.backend == "docker" else path, "rb") as f:
                    f.seek(done)
                    chunk = f.read()
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                    done += len(chunk)
                else:
                    time.sleep(0.5)  # polling for new lines, like tail -f
        except KeyboardInterrupt:
            return 0
    return 0


def register(add: AddVerb) -> None:
    sp = add("logs", logs, "print a node's log (or 'proxy')")
    sp.add_argument("node")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument("-n", "--lines", type=int, default=0)
