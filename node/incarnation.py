"""This data directory's identity, and whether it may take writes yet.

See ``node/protocol/identity.py`` for the scheme. The three cases:

- *A new or emptied data directory* (first start, a replaced disk, a lost LevelDB):
  a fresh incarnation at once; nothing of it can exist anywhere, so it serves at once
  and fetches everything its peers hold, its earlier incarnations' entries included.
- *A data directory that holds data*: ``recovering`` until every peer has welcomed it
  holding no more of its origin than it has; then it keeps its incarnation. Writes
  wait meanwhile (at most the rejoin timeout).
- *Restored from an older copy* (a peer holds more of its origin), *or peers that do not
  all answer in time*: a fresh incarnation before the first write. The entries the
  older copy lacks come back from the peers under the old origin like anyone else's.

Whatever the case, a data directory that holds data serves none of its log until every
peer's Welcome showed it holds nothing that peer lacks dated at or below the peer's GC
horizon (``node/protocol/horizon.py``); if it does, the node stays ``stale``: it serves
nothing, takes no writes and says what to do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable

from node.protocol.horizon import StaleCheck, StaleVerdict
from node.protocol.identity import RejoinCheck, Verdict, name_of, replica_id
from node.storage.store import Store

log = logging.getLogger("node.incarnation")

META_KEY = b"incarnation"


class Incarnation:
    def __init__(self, store: Store, name: str, peers: Iterable[str]) -> None:
        self.store = store
        self.name = name
        self.ready = asyncio.Event()  # set while writes may be taken
        self.state = "recovering"
        self.reason = ""
        self.check: RejoinCheck | None = None
        self.stale = ""  # why this node serves nothing ("": it is not stale)
        peers = list(peers)
        # None once settled; nothing to settle over an empty directory or with no peers
        self.stale_check = StaleCheck(name, peers) if store.vv and peers else None
        raw = store.get_meta(META_KEY)
        stored = raw.decode() if raw is not None else None
        if not store.vv:
            self._mint("a new or empty data directory")
        elif stored is None:
            self._mint("data written before incarnations existed")
        elif name_of(stored) != name:
            self._mint(f"the data directory was written by {name_of(stored)}")
        else:
            self.origin = stored
            self.check = RejoinCheck(stored, store.vv.get(stored, 0), peers)
            if self.check.verdict is not None:
                self._decide(self.check.verdict)
            else:
                log.info(
                    "%s: recovering as %s (seq %d): asking peers %s whether any holds more",
                    name,
                    stored,
                    self.check.top,
                    ", ".join(sorted(self.check.pending)),
                )

    @property
    def status(self) -> tuple[str, str]:
        """(state, why) for ``status``: stale data outranks how the incarnation settled."""
        return ("stale", self.stale) if self.stale else (self.state, self.reason)

    @property
    def withholding(self) -> bool:
        """Serve no entries yet: over data not yet checked against every peer, or stale."""
        return bool(self.stale) or self.stale_check is not None

    def on_welcome(self, peer: str, vv: dict[str, int], horizon: int = 0) -> bool:
        """A peer's Welcome; True when this node just became a new incarnation."""
        if self.stale_check is not None:
            stale = self.stale_check.on_welcome(peer, self.store.vv, vv, horizon, self._hlc_at)
            self._settle(stale)
        if self.check is None:
            return False
        verdict = self.check.on_welcome(peer, vv)
        return verdict is not None and self._decide(verdict)

    def on_timeout(self) -> bool:
        if self.stale_check is not None:
            self._settle(self.stale_check.on_timeout())
        if self.check is None:
            return False
        verdict = self.check.on_timeout()
        return verdict is not None and self._decide(verdict)

    def _hlc_at(self, origin: str, seq: int) -> int | None:
        held = self.store.read_log(origin, seq, seq)
        return held[0].hlc if held else None

    def _settle(self, verdict: StaleVerdict | None) -> None:
        if verdict is None:
            return
        self.stale_check = None
        if verdict.stale:
            self.stale = verdict.reason
            log.error("%s: stale data: %s", self.name, verdict.reason)
        else:
            log.info("%s: serving its log: %s", self.name, verdict.reason)

    def _decide(self, verdict: Verdict) -> bool:
        self.check = None
        if verdict.keep:
            self.state, self.reason = "serving", f"kept {self.origin}: {verdict.reason}"
            log.info("%s: %s", self.name, self.reason)
            self.ready.set()
            return False
        log.warning("%s: %s", self.name, verdict.reason)
        self._mint(verdict.reason)
        return True

    def _mint(self, why: str) -> None:
        self.origin = replica_id(self.name, secrets.token_hex(6))
        self.store.set_meta(META_KEY, self.origin.encode())
        self.state, self.reason = "serving", f"new incarnation {self.origin}: {why}"
        log.info("%s: %s", self.name, self.reason)
        self.ready.set()
