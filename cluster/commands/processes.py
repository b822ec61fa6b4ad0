"""One node's process: ``kill``, ``stop``, ``start``, ``restart``, ``pause``, ``resume``."""

from __future__ import annotations

import argparse
import sys

from cluster.backends.registry import traits
from cluster.commands import AddVerb, Run, open_cluster, waits

VERBS = [  # (verb, what it prints after the node, help); {pause}/{resume}: the backend's way
    ("kill", "killed (SIGKILL; not restarted)", "SIGKILL a node"),
    ("stop", "stopped", "stop a node gracefully (SIGTERM)"),
    ("start", "started", "start a stopped or killed node"),
    ("restart", "restarted", "stop then start a node"),
    ("pause", "paused ({pause})", "freeze a node (SIGSTOP; under Docker the cgroup freezer)"),
    ("resume", "resumed ({resume})", "resume a paused node"),
]


def _node_verb(method: str, done: str) -> Run:
    def run(args: argparse.Namespace) -> int:
        c = open_cluster(args)
        getattr(c, method)(args.node)
        for note in c.notes:
            print(f"note: {note}", file=sys.stderr)
        means = traits(c.backend)  # a SIGSTOP is not a cgroup freeze: say which it was
        print(f"{args.node} {done.format(pause=means.pause_means, resume=means.resume_means)}")
        return 0

    return run


def register(add: AddVerb) -> None:
    for name, done, help in VERBS:
        waits(add(name, _node_verb(name, done), help)).add_argument("node")
