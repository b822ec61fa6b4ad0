"""``converge``: wait until every running node holds the same state; exit 1 if not in time.

Members that are not running (down, paused) take no part, and a check that passed
without them is named as such: the output lists each one left out and why, ``--all``
fails unless every member took part, ``--expect N`` unless exactly N did."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cluster.api import Cluster
from cluster.argtypes import positive_int, seconds
from cluster.commands import AddVerb, open_cluster
from cluster.commands.output import Progress
from cluster.convergence import left_out, left_out_line
from cluster.errors import ClusterError, ConvergeTimeout, OperationFailed


def _left_out(c: Cluster, took_part: list[str]) -> dict[str, str]:
    return left_out(c.topology.names(), took_part, c.process_state)


def _refuse(args: argparse.Namespace, c: Cluster, took_part: list[str]) -> str | None:
    """Why ``--all``/``--expect`` fail with these nodes taking part (None: they pass)."""
    left = _left_out(c, took_part)
    if args.all and left:
        return f"--all: {len(left)} of {len(c.topology.names())} members left out: " + (
            left_out_line(left)
        )
    if args.expect is not None and len(took_part) != args.expect:
        return f"--expect {args.expect}: {len(took_part)} nodes took part" + (
            f"; left out: {left_out_line(left)}" if left else ""
        )
    return None


def converge(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    members = c.topology.names()
    if args.expect is not None and args.expect > len(members):
        raise ClusterError(f"--expect {args.expect}: cluster {c.name} has {len(members)} members")
    running = c.running_nodes()
    refused = _refuse(args, c, running)  # fail fast: a paused node stays paused
    if refused:
        _fail(args, refused, {"converged": None, "left_out": _left_out(c, running)})
    progress = Progress()
    try:
        took = c.converge(args.timeout, progress=progress)
    except ConvergeTimeout as exc:
        progress.done()
        left = _left_out(c, [s["node"] for s in exc.report])
        if args.json:
            print(json.dumps({"converged": False, "nodes": exc.report, "left_out": left}, indent=2))
        if not left:
            raise
        raise ConvergeTimeout(f"{exc}\n  left out: {left_out_line(left)}", exc.report) from None
    progress.done()
    snap = c.snapshot()
    took_part = [s["node"] for s in snap]
    left = _left_out(c, took_part)
    refused = _refuse(args, c, took_part)  # a member went away while we waited
    if refused:
        _fail(args, refused, {"converged": True, "nodes": snap, "left_out": left})
    if args.json:
        report = {"converged": True, "seconds": round(took, 4), "nodes": snap, "left_out": left}
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"converged in {took:.2f}s: {len(snap)} of {len(members)} members, digest "
        f"{snap[0]['digest'][:12]}, {snap[0]['keys']} keys"
        + (f"; left out: {left_out_line(left)}" if left else "")
    )
    return 0


def _fail(args: argparse.Namespace, why: str, report: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
    raise OperationFailed(why)


def register(add: AddVerb) -> None:
    sp = add(
        "converge",
        converge,
        "wait until every running node has the same state; names the members left out",
    )
    sp.add_argument("--timeout", type=seconds, default=60, help="seconds (60)")
    sp.add_argument(
        "--all",
        action="store_true",
        help="fail (exit 1) unless every member of the topology is running and takes part",
    )
    sp.add_argument(
        "--expect",
        type=positive_int,
        metavar="N",
        help="fail (exit 1) unless exactly N nodes take part",
    )
