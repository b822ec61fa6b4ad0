"""How far this node holds each origin on that origin's own word: what it may vouch for.

A snapshot receiver drops held records, and adopts a GC horizon, only for a range
someone besides the sender says it lacks (``node.protocol.vouch``). Were that someone
to repeat what it took on one member's word, a liar could say a thing to one node and
have it vouch for the lie to the next (the two-step lie, issue 24). So a node announces
(``Welcome.vouched``, ``Heartbeat.vouched``) not its vv but, per origin, the mark this
module keeps, raised only by the origin's own word:

- its own writes (always its vv);
- what the origin announced of its own log in its Welcome and heartbeats (the link
  checked it is that node);
- a snapshot: the sender's own origin up to what it claims, and another origin up to
  where a peer besides the sender vouched for it.

Entries relayed by a member that is not their origin, and a range a snapshot moved on
its sender's word alone, raise nothing. A mark is at most the vv (it says "I hold it,
and the origin says it exists"; a rewind can lower the vv under it). The marks are kept
on disk unsynced (one lost to a crash vouches for less, never more), read at start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from node.storage.store import META, Store

log = logging.getLogger("node.replication.vouched")

KEY = META + b"vouched"


class Vouched:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.marks: dict[str, int] = {}
        raw = store.db.get(KEY)
        if raw is not None:
            try:
                loaded = json.loads(raw)
                self.marks = {str(o): int(s) for o, s in loaded.items()}
            except (ValueError, AttributeError, TypeError):
                log.warning("the vouched marks on disk are unreadable; vouching for none")

    def raise_to(self, marks: Mapping[str, int], vv: Mapping[str, int]) -> None:
        """The origins' own word (or a vouched range): each mark goes at least this far
        within what this node holds (so the marks name no origin its vv does not)."""
        changed = False
        for origin, said in marks.items():
            seq = min(said, vv.get(origin, 0))
            if seq > self.marks.get(origin, 0):
                self.marks[origin] = seq
                changed = True
        if changed:
            self.store.db.put(KEY, json.dumps(self.marks).encode(), sync=False)

    def heard(self, origin: str, said: Mapping[str, int], vv: Mapping[str, int]) -> None:
        """A peer's Welcome or heartbeat ``said`` its vv: its word on its own log."""
        if origin:
            self.raise_to({origin: said.get(origin, 0)}, vv)

    def announce(self, vv: Mapping[str, int], own: str) -> dict[str, int]:
        """What this node vouches for: per origin, the mark within what it holds."""
        out = {o: min(m, vv.get(o, 0)) for o, m in self.marks.items()}
        out[own] = vv.get(own, 0)
        return {o: s for o, s in out.items() if s}
