"""``logs``: a node's log, or the link proxy's (``-f`` follows it like ``tail -f``);
``logs --all [-f]``: every node's log merged in time order, each line prefixed with its
node (coloured on a terminal), the way ``docker compose logs`` shows services."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cluster.argtypes import non_negative_int
from cluster.backends.registry import traits
from cluster.commands import AddVerb, open_cluster
from cluster.errors import ClusterError, OperationFailed
from cluster.logs import Stamped, merged, stamped


def poll_s(backend: str) -> float:
    """How often to ask for new lines, like tail -f (a backend whose log is a copy fetched
    from elsewhere is asked less often)."""
    return traits(backend).log_poll_s
COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95", "92")


def logs(args: argparse.Namespace) -> int:
    if args.all == bool(args.node):
        raise ClusterError("give a NODE (or 'proxy'), or --all for every node's log merged")
    if args.all:
        return logs_all(args)
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
                copied = traits(c.backend).logs_copied
                with open(c.log_path(args.node) if copied else path, "rb") as f:
                    f.seek(done)
                    chunk = f.read()
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                    done += len(chunk)
                else:
                    time.sleep(poll_s(c.backend))  # polling for new lines, like tail -f
        except KeyboardInterrupt:
            return 0
    return 0


class Prefixer:
    """``node-b | line``: names padded to one width, each in its own colour on a TTY."""

    def __init__(self, names: list[str], colour: bool) -> None:
        width = max(len(n) for n in names)
        self.prefix = {}
        for i, name in enumerate(names):
            text = f"{name.ljust(width)} | "
            if colour:
                text = f"\x1b[{COLOURS[i % len(COLOURS)]}m{text}\x1b[0m"
            self.prefix[name] = text

    def __call__(self, item: Stamped) -> str:
        _, name, _, line = item
        return self.prefix[name] + line + "\n"


class Tail:
    """A log file read as it grows: complete lines only, and the time of its last one.
    ``where`` is asked for the path at every read: a container's log is copied to the
    file on request (the Docker backend), a process's is written to it."""

    def __init__(self, name: str, where: Callable[[], Path]) -> None:
        self.name, self.where = name, where
        self.done = 0
        self.partial = b""
        self.last = 0.0

    def read(self) -> list[Stamped]:
        path = self.where()
        if not path.exists():
            return []
        with open(path, "rb") as f:
            f.seek(self.done)
            fresh = f.read()
        self.done += len(fresh)
        data = self.partial + fresh
        *complete, self.partial = data.split(b"\n")
        lines = [raw.decode(errors="replace") for raw in complete]
        out = list(stamped(self.name, lines, self.last))
        if out:
            self.last = out[-1][0]
        return out


def logs_all(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    names = c.topology.names()
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    show = Prefixer(names, colour)
    tails = [Tail(n, functools.partial(c.log_path, n)) for n in names]
    try:
        lines = list(merged([t.read() for t in tails]))
        if args.lines:
            lines = lines[-args.lines :]
        sys.stdout.write("".join(show(item) for item in lines))
        sys.stdout.flush()
        while args.follow:
            time.sleep(poll_s(c.backend))
            fresh = sorted(item for t in tails for item in t.read())
            if fresh:
                sys.stdout.write("".join(show(item) for item in fresh))
                sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0


def register(add: AddVerb) -> None:
    sp = add("logs", logs, "print a node's log (or 'proxy'), or --all nodes' merged in time order")
    sp.add_argument("node", nargs="?")
    sp.add_argument("--all", action="store_true", help="every node's log, merged in time order")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument(
        "-n", "--lines", type=non_negative_int, default=0, help="the last N lines (0: all)"
    )
