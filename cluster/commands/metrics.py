"""``metrics NODE [--grep TEXT]``: one node's Prometheus metrics, as Prometheus scrapes them."""

from __future__ import annotations

import argparse
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

from cluster.commands import AddVerb, open_cluster
from cluster.errors import OperationFailed


def metrics(args: argparse.Namespace) -> int:
    text = open_cluster(args).metrics(args.node)
    needle = (args.grep or "").lower()
    if args.json:
        samples = [
            {"name": s.name, "labels": s.labels, "value": s.value}
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if needle in s.name.lower() or any(needle in v.lower() for v in s.labels.values())
        ]
        print(json.dumps(samples, indent=2))
        return 0
    lines = [line for line in text.splitlines() if needle in line.lower()]
    if needle:  # the samples that matched, not the HELP and TYPE lines around them
        lines = [line for line in lines if not line.startswith("#")]
    if not lines:
        raise OperationFailed(f"no metric of {args.node} matches {args.grep!r}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def register(add: AddVerb) -> None:
    sp = add("metrics", metrics, "print a node's Prometheus metrics (what /metrics serves)")
    sp.add_argument("node")
    sp.add_argument("--grep", metavar="TEXT", help="only samples whose line holds TEXT (any case)")
