"""Pure membership decisions of one node: a new peer set checked and diffed, and how much of
this node's own writes each peer holds (for a decommission). No sockets, no clock.

A node's *own origins* are every origin under its name: the current incarnation and
any earlier one (a wiped disk or a restored copy wrote under another incarnation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.config import ConfigError, parse_address
from node.protocol.identity import name_of
from node.settings import NAME_RE, NAME_RULE


@dataclass(frozen=True)
class PeerDiff:
    """What changes from the current outbound peers to the wanted ones (sorted names)."""

    added: list[str]
    removed: list[str]
    changed: list[str]  # same name, another address: the link reconnects there
    kept: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def peer_problem(me: str, peers: Mapping[str, str]) -> str:
    """Why ``peers`` cannot be this node's peer set ("" when it can): names by the node
    name rule, never the node itself, addresses ``host:port``."""
    for name, address in sorted(peers.items()):
        if not NAME_RE.match(name):
            return f"bad peer name {name!r}: expected {NAME_RULE}"
        if name == me:
            return f"peer {name!r} is this node itself"
        try:
            parse_address(address, f"peer {name}")
        except ConfigError as exc:
            return str(exc)
    return ""


def diff_peers(current: Mapping[str, str], wanted: Mapping[str, str]) -> PeerDiff:
    return PeerDiff(
        added=sorted(set(wanted) - set(current)),
        removed=sorted(set(current) - set(wanted)),
        changed=sorted(p for p in set(current) & set(wanted) if current[p] != wanted[p]),
        kept=sorted(p for p in set(current) & set(wanted) if current[p] == wanted[p]),
    )


def own_origins(vv: Mapping[str, int], name: str) -> dict[str, int]:
    """The part of ``vv`` this node's incarnations wrote."""
    return {o: seq for o, seq in vv.items() if name_of(o) == name and seq > 0}


def missing(own: Mapping[str, int], acked: Mapping[str, int]) -> int:
    """Entries of ``own`` that a peer which acked ``acked`` does not hold."""
    return sum(max(0, top - acked.get(origin, 0)) for origin, top in own.items())
