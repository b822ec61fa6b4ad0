"""``nemesis``: random faults under a client workload, then the history is checked."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from cluster.argtypes import duration as parse_duration
from cluster.argtypes import int_range, non_negative_int, positive_int, seconds
from cluster.commands import AddVerb, Stopped, on_sigterm, open_cluster, waits
from cluster.commands.output import Progress
from cluster.nemesis import DEFAULT_FAULTS, FAULTS, check_faults, run_nemesis
from cluster.nemesis.drawing import INSTALL
from cluster.nemesis.report import convergence_text

MAX_WORKERS = int_range(1, 256)  # client threads; more is a typo on any machine


def nemesis(args: argparse.Namespace) -> int:
    faults = check_faults(args.faults.split(","))
    cluster = open_cluster(args)
    progress = Progress()
    previous = signal.signal(signal.SIGTERM, on_sigterm)  # like Ctrl-C: undo, then exit
    try:
        s = run_nemesis(
            cluster,
            args.seed,
            args.duration,
            faults,
            args.workers,
            args.keys,
            args.out,
            args.converge_timeout,
            progress,
        )
    except Stopped:
        progress.done()
        print(
            "nemesis stopped by SIGTERM: what it set is undone (links healed, nodes "
            "running); no verdict",
            file=sys.stderr,
        )
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.done()
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        ops = s["ops"]
        inj = ", ".join(f"{k} {n}" for k, n in s["faults_injected"].items()) or "none"
        conv = "convergence " + convergence_text(s["convergence_seconds"])
        print(
            f"nemesis {s['cluster']} seed {s['seed']}: {s['verdict'].upper()}: "
            f"ops ok {ops['ok']} info {ops['info']} fail {ops['fail']}; faults {inj}; {conv}"
        )
        for a in s["anomalies"][:20]:
            print(f"  {a['kind']} {a['key']}: {a['detail']}")
        if len(s["anomalies"]) > 20:
            print(f"  ... {len(s['anomalies']) - 20} more in {s['out_dir']}/summary.json")
        print(f"results in {s['out_dir']}")
        if s.get("report_pictures"):
            print(f"pictures of the run in {s['report']}")
        elif s.get("report"):
            print(f"report of the run (no pictures: matplotlib is missing) in {s['report']}")
            print(f"for the pictures: {INSTALL}", file=sys.stderr)
    if not s["valid"]:
        print(f"invalid run, seed {s['seed']}; replay with:\n  {s['replay']}", file=sys.stderr)
        return 1
    return 0


def register(add: AddVerb) -> None:
    help = "random faults under a client workload, then check the history (exit 1 if invalid)"
    sp = waits(add("nemesis", nemesis, help))
    sp.add_argument(
        "--seed", type=non_negative_int, required=True, help="replays the same fault schedule"
    )
    sp.add_argument("--duration", type=parse_duration, default=30.0, help="e.g. 30s, 2m (30s)")
    sp.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help=f"comma list of {', '.join(FAULTS)} (default: {','.join(DEFAULT_FAULTS)})",
    )
    sp.add_argument("--workers", type=MAX_WORKERS, default=4, help="client threads (4)")
    sp.add_argument(
        "--keys", type=positive_int, default=8, help="key space size; small means conflicts (8)"
    )
    sp.add_argument("--out", help="results dir (nemesis-results/<cluster>-seed<N>-<time>/)")
    sp.add_argument("--converge-timeout", type=seconds, default=60, help="seconds (60)")
