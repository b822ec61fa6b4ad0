"""Where one subscriber stands on a server's log, and what it asks not to be sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from node.pb import remesh_pb2 as pb


def exclusions(peer: str, connected: Iterable[str]) -> list[str]:
    """Origins a subscriber asks ``peer`` not to send: those it has a live direct link to.

    Each origin holds all of its own entries, so a live direct link to it is a
    complete source; asking relays to skip it makes a healthy full mesh send
    each write over each link once. When a direct link drops, its origin is
    taken off the list and relays fill in from the subscriber's acked vv.
    """
    return sorted(set(connected) - {peer})


class Cursor:
    """A subscriber's position on this server's log, per origin.

    ``pos[o]`` is the highest seq of origin ``o`` the subscriber holds or has
    been sent on this stream. It starts at the subscriber's vv from Hello, moves
    on every send and jumps forward on acks (the subscriber may have got the
    entries elsewhere). Never sends the subscriber its own entries (no echo).
    """

    def __init__(self, subscriber: str, vv: Mapping[str, int], exclude: Iterable[str] = ()) -> None:
        self.subscriber = subscriber
        self.pos: dict[str, int] = dict(vv)
        self.acked: dict[str, int] = dict(vv)
        self.exclude: set[str] = set(exclude)

    def on_ack(self, vv: Mapping[str, int]) -> None:
        for origin, seq in vv.items():
            if seq > self.acked.get(origin, 0):
                self.acked[origin] = seq
            if seq > self.pos.get(origin, 0):
                self.pos[origin] = seq

    def set_exclude(self, exclude: Iterable[str]) -> None:
        self.exclude = set(exclude)

    def on_sent(self, entries: Iterable[pb.Entry]) -> None:
        for entry in entries:
            if entry.seq > self.pos.get(entry.origin, 0):
                self.pos[entry.origin] = entry.seq

    def ranges(self, have: Mapping[str, int], limit: int) -> list[tuple[str, int, int]]:
        """Inclusive seq ranges ``(origin, first, last)`` to send next, ``limit`` entries at most.

        The budget is shared fairly so one busy origin cannot starve the others.
        """
        pending = [
            (origin, self.pos.get(origin, 0) + 1, top)
            for origin, top in sorted(have.items())
            if origin != self.subscriber
            and origin not in self.exclude
            and top > self.pos.get(origin, 0)
        ]
        out: list[tuple[str, int, int]] = []
        budget = limit
        for i, (origin, first, top) in enumerate(pending):
            if budget <= 0:
                break
            share = max(1, budget // (len(pending) - i))
            last = min(top, first + share - 1)
            out.append((origin, first, last))
            budget -= last - first + 1
        return out

    def unsent(self, have: Mapping[str, int]) -> int:
        """Entries this stream has yet to send (what ``ranges`` would go through)."""
        return sum(
            top - self.pos.get(origin, 0)
            for origin, top in have.items()
            if origin != self.subscriber
            and origin not in self.exclude
            and top > self.pos.get(origin, 0)
        )

    def lag(self, have: Mapping[str, int]) -> int:
        """Entries this server holds that the subscriber has not acknowledged."""
        return sum(
            max(0, top - self.acked.get(origin, 0))
            for origin, top in have.items()
            if origin != self.subscriber
        )
