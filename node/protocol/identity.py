"""Replica identity: which incarnation of a node wrote an entry, and whether a node that
restarts over an existing data directory may go on writing as the incarnation it finds.

An origin is ``<node name>@<incarnation>``. A data directory gets a fresh random
incarnation when it is created (so a wiped disk or a new machine writes under a new
origin and fetches its earlier incarnation's entries like anyone else's), and keeps it
across restarts only while no peer holds more of it than the directory does. A data
directory restored from an older copy is found out by ``RejoinCheck`` from its peers'
Welcome and switches to a new incarnation before it takes a write, so a seq a peer
already holds is never reused with other content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Node, cluster and tenant names: what a node accepts from a peer's Hello and what a
# topology may name (node/settings.py). Safe as a supervisord program name, a file name
# and a log prefix.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = (
    "lowercase letters, digits, '-' or '_', starting with a letter or digit, at most 40 characters"
)
SEP = "@"
INCARNATION_RE = re.compile(r"^[0-9a-f]{12}$")
# A node name (NAME_RE), optionally @ a 12-hex-digit incarnation. Data
# written before incarnations existed carries the bare name.
ORIGIN_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}(@[0-9a-f]{12})?$")


def replica_id(name: str, incarnation: str) -> str:
    return f"{name}{SEP}{incarnation}"


def name_of(origin: str) -> str:
    """The node name part of an origin."""
    return origin.split(SEP, 1)[0]


@dataclass(frozen=True)
class Verdict:
    keep: bool  # True: write on as this incarnation; False: mint a new one first
    reason: str


class RejoinCheck:
    """May a replica that restarted over its data go on writing as ``origin``?

    Yes once every peer it subscribes to has welcomed it holding no more of ``origin``
    than the ``top`` seq this data directory has: any entry of ``origin`` that left this
    node went through one of them first. No, as soon as one peer holds more (the data
    directory is older than what it already sent), or when the peers cannot all be
    asked in time (safe default: a new incarnation costs one more vv entry, never data).
    """

    def __init__(self, origin: str, top: int, peers: Iterable[str]) -> None:
        self.origin = origin
        self.top = top
        self.pending = set(peers)
        self.verdict: Verdict | None = None
        if not self.pending:
            self.verdict = Verdict(True, "no peers to ask")

    def on_welcome(self, peer: str, vv: Mapping[str, int]) -> Verdict | None:
        """A peer's vv from its Welcome; returns the verdict once there is one."""
        if self.verdict is not None:
            return None
        theirs = vv.get(self.origin, 0)
        if theirs > self.top:
            self.verdict = Verdict(
                False,
                f"{peer} holds {self.origin} up to seq {theirs} but this data directory "
                f"only up to {self.top}: it was restored from an older copy",
            )
            return self.verdict
        self.pending.discard(peer)
        if not self.pending:
            self.verdict = Verdict(True, f"every peer confirmed seq {self.top} is the top")
            return self.verdict
        return None

    def on_timeout(self) -> Verdict | None:
        if self.verdict is not None:
            return None
        self.verdict = Verdict(
            False,
            f"could not confirm with {', '.join(sorted(self.pending))} that no one holds "
            f"more of {self.origin}",
        )
        return self.verdict
