"""Forks, found and acted on: the replica's side of node/protocol/forks.py.

Every Hello, Welcome and Heartbeat a peer sends carries its chain values at its vv;
``check`` compares them with this node's where it holds that seq. A difference is
logged at ERROR (origin, seq, the nodes), counted, and listed in Status. When it is
with the origin itself, this node holds a range the origin never wrote: it drops its
log of that origin past the last seq the origin confirmed, rebuilds its state from the
log and fetches the origin's entries again (node/storage/rewind.py), or, when it cannot, says
what the operator must do. Until a fork clears, the node relays that origin only up
to what the origin confirmed (``relay_vv``). See docs/integrity.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from node.pb import remesh_pb2 as pb
from node.protocol.chain import check_chains, compare
from node.protocol.forks import ForkBook, Seen
from node.protocol.identity import name_of
from node.storage import chains, rewind
from node.storage.store import Store

log = logging.getLogger("node.replication.integrity")

CACHE = 1024  # chain values looked up below the top, kept for the next heartbeat


@dataclass(frozen=True)
class Host:
    """What the fork handling needs of its replica: names, reads, and what to do when a
    range was given back."""

    node_id: str
    origin: Callable[[], str]  # this node's current origin (a new incarnation changes it)
    read_log: Callable[[str, int, int], list[pb.Entry]]  # recent entries from memory
    replica_id_of: Callable[[str], str]  # a peer's replica id on its link, "" unknown
    busy: Callable[[], str]  # why a rewind must wait now (a snapshot merging), or ""
    # a forked range of this origin was dropped and the state rebuilt: caches, Watch
    # streams, links and the watermark must follow
    rewound: Callable[[str], None]


class Integrity:
    def __init__(self, store: Store, host: Host) -> None:
        self.store, self.host = store, host
        self.book = ForkBook()
        self.found = 0  # forks detected (a new origin or peer in one): remesh_forks_total
        self.rewinds = 0  # ranges given back: links say Hello again when this moves
        self.refused: dict[str, str] = {}  # origin -> why it was not repaired (said once)
        self._cache: dict[tuple[str, int], bytes | None] = {}
        chains.recover_chains(store)  # the store's vv is recovered: its chains next
        rewind.resume(store)

    def heads(self) -> dict[str, bytes]:
        return chains.heads(self.store)

    def chain_at(self, origin: str, seq: int) -> bytes | None:
        key = (origin, seq)
        if key not in self._cache:
            if len(self._cache) >= CACHE:
                self._cache.clear()
            self._cache[key] = chains.chain_at(self.store, origin, seq, self.host.read_log)
        return self._cache[key]

    def check(
        self, peer: str, peer_origin: str, vv: Mapping[str, int], theirs: Mapping[str, bytes],
        what: str, greeting: bool = False,
    ) -> None:  # fmt: skip
        """Compare a peer's chain values with ours; ``Refused`` when they are malformed.
        ``greeting``: its Hello or Welcome, where a new incarnation of it shows."""
        check_chains(theirs, vv, what, peer)
        if greeting:
            for gone in self.book.met(peer, peer_origin):
                self._report(gone)
        for origin, seq, equal in compare(vv, theirs, self.store.vv, self.chain_at):
            seen = self.book.observe(origin, seq, equal, peer, peer_origin)
            if seen is not None:
                self._report(seen)
        for origin in self.book.to_repair():
            self._repair(origin)

    def conflict(self, peer: str, entry: pb.Entry) -> bool:
        """``peer`` sent an entry this node holds with other content: a fork at its seq.
        True when this node gave its range back (the peer is the entry's origin)."""
        seen = self.book.observe(
            entry.origin, entry.seq, False, peer, self.host.replica_id_of(peer)
        )
        if seen is not None:
            self._report(seen)
        if entry.origin not in self.book.to_repair():
            return False
        return self._repair(entry.origin)

    def _report(self, seen: Seen) -> None:
        me = self.host.node_id
        if seen.cleared:
            log.info("%s: fork of %s cleared: %s now agrees", me, seen.origin, seen.peer)
            return
        if not seen.new:
            return
        self.found += 1
        log.error(
            "%s: fork: %s's chain of %s at seq %d differs from %s's (two contents for one "
            "(origin, seq), at or below that seq; nodes %s and %s): %s",
            me, seen.peer, seen.origin, seen.seq, me, me, seen.peer,
            self.book.verdict(seen.origin, self.host.origin()),
        )  # fmt: skip

    def _repair(self, origin: str) -> bool:
        host, store = self.host, self.store
        why = rewind.why_not(store) or host.busy()
        if why:
            if self.refused.get(origin) != why:
                log.error(
                    "%s: fork of %s not repaired here: %s. Re-bootstrap %s: make sure its "
                    "own writes are held elsewhere (cluster status: the others' vv cover "
                    "%s), stop it, delete its data directory, start it (docs/integrity.md)",
                    host.node_id, origin, why, host.node_id, host.origin(),
                )  # fmt: skip
            self.refused[origin] = why
            return False
        to = self.book.agreed.get(origin, 0)
        dropped = rewind.rewind(store, origin, to)
        self.book.forget(origin)
        self.refused.pop(origin, None)
        self._cache.clear()
        self.rewinds += 1
        host.rewound(origin)
        log.warning(
            "%s: fork of %s repaired: dropped its %d entries after seq %d (the last seq "
            "%s confirmed) and rebuilt the state; fetching them again from %s",
            host.node_id, origin, dropped, to, name_of(origin), name_of(origin),
        )  # fmt: skip
        return True

    def relay_vv(self) -> Mapping[str, int]:
        """The vv to serve subscribers from: a forked origin only up to what its origin
        confirmed (this node cannot vouch for the rest)."""
        vv = self.store.vv
        caps = self.book.relay_caps(self.host.origin()) if self.book.forks else None
        if not caps:
            return vv
        return {o: min(s, caps[o]) if o in caps else s for o, s in vv.items()}

    def status(self) -> list[pb.Fork]:
        me = self.host.origin()
        return [
            pb.Fork(origin=o, seq=f.seq, peers=sorted(f.peers), verdict=self.book.verdict(o, me))
            for o, f in sorted(self.book.forks.items())
        ]
