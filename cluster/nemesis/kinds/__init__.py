"""Fault kinds as registered objects (issue 26): each kind says how it is planned,
applied, undone and restored, how it shows in the timeline (its detail, the action that
ends it) and in the report (its colour). ``plan``, ``apply``, ``report`` and ``drawing``
loop over ``KINDS``; a new kind (a disk or network fault, say) is one module here and
one line in ``_ALL``.
"""

from __future__ import annotations

from cluster.nemesis.kinds.base import Context, Fault, FaultKind, Runner
from cluster.nemesis.kinds.clock import Clock
from cluster.nemesis.kinds.membership import Membership
from cluster.nemesis.kinds.partition import Partition
from cluster.nemesis.kinds.process import Kill, Pause

_ALL: tuple[FaultKind, ...] = (Partition(), Kill(), Pause(), Membership(), Clock())
KINDS: dict[str, FaultKind] = {k.name: k for k in _ALL}
FAULTS = tuple(KINDS)
DEFAULT_FAULTS = tuple(k.name for k in _ALL if k.default)  # the others are asked for by name

__all__ = ["DEFAULT_FAULTS", "FAULTS", "KINDS", "Context", "Fault", "FaultKind", "Runner"]
