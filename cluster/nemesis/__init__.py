"""Randomized faults against a running cluster, with a history checker at the end.

Client workers put and delete over a few keys (so conflicts are frequent) through random
live nodes and record every op (:mod:`cluster.history`) while the nemesis applies
faults: partitions of several shapes, kill -9 and restart, pause and resume (SIGSTOP, or
Docker's cgroup freezer), members leaving and joining (``membership``, asked for by
name), sometimes two at once, each held 0.5-3 s. Then everything is healed, the cluster
must converge, and the final state of every key at every current member is judged
against the history (:mod:`cluster.checker`); writes through a member that left count.

One ``random.Random(seed)`` plans the whole fault schedule up front and seeds each
worker's op choices, so a seed replays the same schedule and op sequence; only the
interleaving depends on timing.

Modules: ``kinds`` (each fault kind: how it is planned, applied, undone, shown),
``plan`` (the seeded fault schedule, pure), ``workers`` (client threads recording the
history), ``apply`` (faults applied and undone through ``Cluster``),
``run`` (the whole run: workload, faults, heal, converge, check, results).
"""

from cluster.nemesis.kinds import DEFAULT_FAULTS, FAULTS
from cluster.nemesis.plan import plan
from cluster.nemesis.run import check_faults, run_nemesis

__all__ = ["DEFAULT_FAULTS", "FAULTS", "check_faults", "plan", "run_nemesis"]
