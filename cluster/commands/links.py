"""Faults on links: ``partition``, ``isolate``, ``delay``, ``heal``."""

from __future__ import annotations

import argparse

from cluster.argtypes import int_range
from cluster.commands import AddVerb, open_cluster, waits
from cluster.faults.model import CUT_MODES, MAX_DELAY_MS

MAX_SKEW_MS = 365 * 86_400_000  # node.api.admin.MAX_CLOCK_OFFSET_MS (a unit test holds them equal)


def partition(args: argparse.Namespace) -> int:
    groups = [[n for n in g.split(",") if n] for g in args.groups]
    result = open_cluster(args).partition(groups, args.mode)
    print(
        f"partitioned {' | '.join(','.join(g) for g in groups)} ({args.mode}): "
        f"{len(result.get('faults', {}))} links cut"
    )
    return 0


def isolate(args: argparse.Namespace) -> int:
    result = open_cluster(args).isolate(args.node, args.mode)
    print(f"isolated {args.node} ({args.mode}): {len(result.get('faults', {}))} links cut")
    return 0


def heal(args: argparse.Namespace) -> int:
    open_cluster(args).heal()
    print("healed: every link forwards again")
    return 0


def delay(args: argparse.Namespace) -> int:
    open_cluster(args).delay(args.node, args.peer, args.ms)
    print(f"delay {args.node}<->{args.peer}: {args.ms} ms each way")
    return 0


def skew(args: argparse.Namespace) -> int:
    offset = args.offset
    wall = open_cluster(args).skew(args.node, offset)
    print(f"{args.node}'s clock shifted by {offset:+d} ms (its wall clock now {wall} ms)")
    return 0


def register(add: AddVerb) -> None:
    sp = waits(add("partition", partition, "cut links between groups, e.g. node-a node-b,node-c"))
    sp.add_argument("groups", nargs="+", metavar="GROUP")
    sp.add_argument("--mode", choices=CUT_MODES, default="blackhole")
    sp = waits(add("isolate", isolate, "cut every link of NODE"))
    sp.add_argument("node")
    sp.add_argument("--mode", choices=CUT_MODES, default="blackhole")
    waits(add("heal", heal, "remove every link fault"))
    sp = waits(add("delay", delay, "add latency on the links between NODE and PEER"))
    sp.add_argument("node")
    sp.add_argument("peer")
    sp.add_argument("ms", type=int_range(0, MAX_DELAY_MS, "ms"), help="milliseconds each way")
    sp = waits(
        add("skew", skew, "shift NODE's physical clock by +MS or -MS (0: back); a test fault")
    )
    sp.add_argument("node")
    sp.add_argument(
        "offset",
        metavar="+MS|-MS",
        type=int_range(-MAX_SKEW_MS, MAX_SKEW_MS, "ms"),
        help="milliseconds, e.g. +5000 or -200",
    )
