"""``cluster``: the command line, a thin shell over :class:`cluster.api.Cluster`.

This module only assembles the verbs of ``cluster.commands`` into one parser and
is the single place where errors become exit codes: 0 success, 1 the operation
or check failed, 2 bad usage or bad input; no tracebacks for user errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from importlib import metadata

from cluster.backends.base import BackendError
from cluster.backends.registry import BACKENDS
from cluster.commands import (
    Run,
    bench,
    converge,
    data,
    lifecycle,
    links,
    logs,
    members,
    metrics,
    nemesis,
    processes,
    topologies,
)
from cluster.errors import ClusterError, OperationFailed
from cluster.faults.model import ProxyError
from cluster.topology import TopologyError

VERBS = (
    lifecycle,
    members,
    topologies,
    data,
    processes,
    links,
    converge,
    bench,
    logs,
    metrics,
    nemesis,
)  # in --help order, then each backend's own (cluster.backends.registry)


def _common(parser: argparse.ArgumentParser, default: Callable[[object], object]) -> None:
    """--home/--cluster/--json work before or after the verb."""
    parser.add_argument(
        "--home",
        default=default(None),
        help="state directory root (default: $REMESH_HOME, else ./.cluster if it exists, "
        "else $XDG_STATE_HOME/remesh, i.e. ~/.local/state/remesh)",
    )
    parser.add_argument(
        "--cluster", default=default(None), help="cluster name, when there are several"
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )


def version() -> str:
    """The installed remesh's version (``cluster --version``)."""
    try:
        return metadata.version("remesh")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _common(common, lambda _: argparse.SUPPRESS)  # a verb's copy wins only when given
    parser = argparse.ArgumentParser(
        prog="cluster",
        description="Run remesh topologies as real processes, inject faults, check convergence.",
    )
    _common(parser, lambda value: value)
    parser.add_argument("--version", action="version", version=f"remesh {version()}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def add(name: str, run: Run, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, parents=[common], help=help, description=help)
        sp.set_defaults(func=run)
        return sp

    for module in VERBS:
        module.register(add)
    for backend in BACKENDS.values():
        if backend.verbs:
            importlib.import_module(backend.verbs).register(add)
    return parser


def exit_code(exc: Exception) -> int:
    """1: the operation or check failed; 2: bad usage or bad input."""
    return 1 if isinstance(exc, (OperationFailed, BackendError, ProxyError)) else 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (TopologyError, ClusterError, BackendError, ProxyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cluster status | head`: the reader left; nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
