"""Faults on links and clocks, the ``Cluster`` verbs: ``partition``, ``isolate``, ``delay``,
``heal``, and ``skew`` (one node's physical clock shifted).

A mixin of ``cluster.api.Cluster``, which provides what is declared here; the faults
themselves are built by ``cluster.faults.model`` and set through the proxy's control port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cluster.errors import ClusterError
from cluster.facade import Facade
from cluster.faults.control import SupervisedControl
from cluster.faults.leftover import clear, left_by
from cluster.faults.model import (
    FaultRequest,
    delay_faults,
    isolate_faults,
    link_name,
    partition_faults,
)
from cluster.render import PROXY
from cluster.verblock import exclusive


class LinkFaults(Facade):
    """Faults on links and clocks; the rest of ``Cluster`` provides what they use."""

    @exclusive("skew")
    def skew(self, node: str, offset_ms: int) -> int:
        """Shift ``node``'s physical clock by ``offset_ms`` from now on (0: back to true
        time); returns the node's clock with it. Tests the skew guard and LWW under skew."""
        self._known(node)
        r = self._answering(node).set_clock_offset(offset_ms)
        return int(r.wall_ms)

    @property
    def has_proxy(self) -> bool:
        """Do the links go through the fault proxy (topology ``proxies: true``)?"""
        return self._state.has_proxy

    def links(self) -> list[str]:
        """Every directed link ``src>dst`` that faults can act on."""
        return list(self._state.link_addresses)

    def link_addresses(self) -> dict[str, str]:
        """Each directed link's proxy listen address (where ``src`` dials ``dst``)."""
        return self._state.link_addresses

    def _proxy(self) -> SupervisedControl:
        if not self.has_proxy:
            raise ClusterError(
                f"cluster {self.name} runs without link proxies (proxies: false): "
                "faults on links need them"
            )
        return SupervisedControl(
            self._proxy_control_address(),
            self.credentials().token,
            lambda: self.process_state(PROXY),
        )

    @exclusive("faults")
    def set_link_faults(self, faults: FaultRequest) -> dict[str, Any]:
        """Set these links' faults (``{link: {mode, delay_ms}}``), others unchanged."""
        return self._proxy().set_faults(faults)

    @exclusive("partition")
    def partition(self, groups: Sequence[Sequence[str]], mode: str = "blackhole") -> dict[str, Any]:
        """Cut every link between different groups, both ways."""
        self._known(*(node for group in groups for node in group))
        if len(groups) < 2 or not all(groups):
            raise ClusterError(
                "a partition needs at least two groups of nodes, e.g. node-a node-b,node-c"
            )
        return self._set(lambda: partition_faults(groups, self.links(), mode))

    @exclusive("isolate")
    def isolate(self, node: str, mode: str = "blackhole") -> dict[str, Any]:
        self._known(node)
        return self._set(lambda: isolate_faults(node, self.links(), mode))

    def _set(self, build: Callable[[], FaultRequest]) -> dict[str, Any]:
        """Set the faults ``build`` makes; what it refuses (ValueError) is bad input."""
        try:
            faults = build()
        except ValueError as exc:
            raise ClusterError(str(exc)) from None
        return self.set_link_faults(faults)

    @exclusive("delay")
    def delay(self, src: str, dst: str, ms: int) -> dict[str, Any]:
        self._known(src, dst)
        if link_name(src, dst) not in self.links():
            raise ClusterError(f"no link {src}>{dst} in cluster {self.name}")
        return self.set_link_faults(delay_faults(src, dst, ms))

    @exclusive("heal")
    def heal(self) -> dict[str, Any]:
        healed = self._proxy().heal()
        clear(self.dir)  # no run's faults are left in force
        return healed

    def _heal_leftovers(self) -> list[str]:
        """At ``up``: heal what a run that died without undoing it left (nodes must not
        recover behind links a dead nemesis cut); what was done, for the operator."""
        leftover = left_by(self.dir)
        if not leftover:
            return []
        self._proxy().heal()
        clear(self.dir)
        return [f"healed the link faults {leftover} left in force"]

    def _kept_cuts(self) -> list[str]:
        """After ``up``: the links still cut by faults kept across down/up on purpose (up
        promised every link up, so it says which are not and why)."""
        cut = sorted(n for n, f in self.faults().items() if f.get("mode", "ok") != "ok")
        if not cut:
            return []
        return [
            f"links still cut by faults kept from before `down`: {' '.join(cut)}; "
            "`cluster heal` restores them"
        ]

    def faults(self) -> dict[str, Any]:
        """The active link faults ({} without proxies)."""
        return self._proxy().get().get("faults", {}) if self.has_proxy else {}
