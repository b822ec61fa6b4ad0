"""One node's process: ``kill``, ``stop``, ``start``, ``restart``, ``pause``, ``resume``."""

from __future__ import annotations

import argparse

from cluster.commands import AddVerb, Run, open_cluster, waits

VERBS = [  # (verb, what it prints after the node, help)
    ("kill", "killed (SIGKILL; not restarted)", "SIGKILL a node"),
    ("stop", "stopped", "stop a node gracefully (SIGTERM)"),
    ("start", "started", "start a stopped or killed node"),
    ("restart", "restarted", "stop then start a node"),
    ("pause", "paused (SIGSTOP)", "freeze a node with SIGSTOP"),
    ("resume", "resumed (SIGCONT)", "resume a paused node"),
]


def _node_verb(method: str, done: str) -> Run:
    def run(args: argparse.Namespace) -> int:
        getattr(open_cluster(args), method)(args.node)
        print(f"{args.node} {done}")
        return 0

    return run


def register(add: AddVerb) -> None:
    for name, done, help in VERBS:
        waits(add(name, _node_verb(name, done), help)).add_argument("node")
