"""The ``cluster`` verbs: one module per verb or small family, each registering its own.

Each module has ``register(add)``: ``add(name, run, help)`` creates the verb's
subparser (the shared ``--home``, ``--cluster`` and ``--json`` included) and
returns it for the verb's own arguments; ``run(args)`` returns the exit code.
``cluster.cli`` assembles them and is the one place errors become exit codes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cluster.api import Cluster

Run = Callable[[argparse.Namespace], int]
AddVerb = Callable[[str, Run, str], argparse.ArgumentParser]


def open_cluster(args: argparse.Namespace) -> Cluster:
    """The cluster a verb acts on: ``--cluster`` under ``--home`` (or the only one)."""
    return Cluster.open(args.cluster, args.home)

