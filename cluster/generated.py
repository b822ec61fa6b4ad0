"""Topology text the tool made itself (``cluster init``, ``add``, ``remove``), validated
with errors that name the field but no line: a line number would point into a file that
does not exist, or into the user's file, which says something else at that line."""

from __future__ import annotations

from cluster.topology import Topology, TopologyError, parse_topology


def parse_generated(text: str, source: str) -> Topology:
    """``parse_topology`` for text that is no file's; ``source`` says what made it."""
    try:
        return parse_topology(text, source)
    except TopologyError as exc:
        raise TopologyError(source, None, exc.field, exc.message) from None
