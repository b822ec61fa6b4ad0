"""The fault model: link names, one link's fault, and the algebra that builds fault sets.

A directed link ``src>dst`` carries node ``src``'s subscription to node ``dst``. A fault
is a mode (``ok``, ``blackhole``: silent like a real partition, ``reset``: RST) plus an
optional ``delay_ms``. Partitions, isolation, cuts and delays are pure functions from
node names and link names to ``{link: {mode, delay_ms}}`` requests for the proxy, so
the CLI, the nemesis and tests build faults the same way. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODES = ("ok", "blackhole", "reset")
CUT_MODES = ("blackhole", "reset")
MAX_DELAY_MS = 600_000

FaultRequest = dict[str, dict[str, Any]]


class ProxyError(Exception):
    """A proxy problem a person can act on; the message says what to do."""


class ProxyUnreachable(ProxyError):
    """Nothing answered on the proxy's control port (it may be restarting)."""


def link_name(src: str, dst: str) -> str:
    """The name of the directed link on which node ``src`` subscribes to node ``dst``."""
    return f"{src}>{dst}"


def split_link(name: str) -> tuple[str, str]:
    """``'src>dst'`` -> (src, dst)."""
    parts = name.split(">") if isinstance(name, str) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"expected a link name 'src>dst', got {name!r}")
    return parts[0], parts[1]


@dataclass(frozen=True)
class Fault:
    """One link's fault; the default (ok, no delay) is a healthy link."""

    mode: str = "ok"
    delay_ms: int = 0

    @property
    def is_ok(self) -> bool:
        return self.mode == "ok" and self.delay_ms == 0

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_ms": self.delay_ms}

    def merged(self, name: str, raw: Any) -> Fault:
        """This fault with ``raw``'s keys applied; ProxyError names the link and field."""
        if not isinstance(raw, dict) or not set(raw) <= {"mode", "delay_ms"}:
            raise ProxyError(
                f"link {name!r}: expected an object with keys mode and/or delay_ms, got {raw!r}"
            )
        mode = raw.get("mode", self.mode)
        delay = raw.get("delay_ms", self.delay_ms)
        if mode not in MODES:
            raise ProxyError(
                f"link {name!r}: mode: expected one of {', '.join(MODES)}, got {mode!r}"
            )
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_MS:
            raise ProxyError(
                f"link {name!r}: delay_ms: expected an integer 0-{MAX_DELAY_MS}, got {delay!r}"
            )
        return Fault(mode, delay)


def parse_faults(raw: Any, current: Mapping[str, Fault]) -> dict[str, Fault]:
    """Validate a whole ``set`` request against the known links before anything changes."""
    if not isinstance(raw, dict):
        raise ProxyError(f"faults: expected an object {{link: {{mode, delay_ms}}}}, got {raw!r}")
    out: dict[str, Fault] = {}
    for name, spec in raw.items():
        if name not in current:
            known = ", ".join(sorted(current)) or "(none)"
            raise ProxyError(f"unknown link {name!r}; known: {known}")
        out[name] = current[name].merged(name, spec)
    return out


def _cut_mode(what: str, mode: str) -> None:
    if mode not in CUT_MODES:
        raise ValueError(f"{what} mode: expected blackhole or reset, got {mode!r}")


def partition_faults(
    groups: Sequence[Sequence[str]], links: Iterable[str], mode: str = "blackhole"
) -> FaultRequest:
    """Faults cutting every link whose ends are in different groups; ungrouped nodes untouched."""
    _cut_mode("partition", mode)
    side: dict[str, int] = {}
    for i, group in enumerate(groups):
        for node in group:
            if side.setdefault(node, i) != i:
                raise ValueError(f"node {node!r} is in more than one partition group")
    out: FaultRequest = {}
    for name in links:
        src, dst = split_link(name)
        if src in side and dst in side and side[src] != side[dst]:
            out[name] = {"mode": mode}
    return out


def isolate_faults(node: str, links: Iterable[str], mode: str = "blackhole") -> FaultRequest:
    """Faults cutting every link from or to ``node``."""
    _cut_mode("isolate", mode)
    return {name: {"mode": mode} for name in links if node in split_link(name)}


def cut_faults(pairs: Iterable[tuple[str, str]], mode: str = "blackhole") -> FaultRequest:
    """Faults cutting each pair of nodes both ways."""
    _cut_mode("cut", mode)
    return {link_name(s, d): {"mode": mode} for a, b in pairs for s, d in ((a, b), (b, a))}


def delay_faults(a: str, b: str, ms: int) -> FaultRequest:
    """Faults delaying both links between ``a`` and ``b`` by ``ms`` each way."""
    return {link_name(a, b): {"delay_ms": ms}, link_name(b, a): {"delay_ms": ms}}


def mode_faults(links: Iterable[str], mode: str) -> FaultRequest:
    """Set ``mode`` on each of ``links`` (``ok`` undoes a cut, leaving delays in place)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return {name: {"mode": mode} for name in links}
