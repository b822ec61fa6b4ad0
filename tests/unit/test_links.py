"""The outbound link table: what ``status`` shows about a link that keeps failing."""

from __future__ import annotations

import pytest

from node.replication.links import Links

pytestmark = pytest.mark.unit


def test_a_link_that_stays_down_shows_its_latest_failure_and_notifies_once() -> None:
    links = Links({"node-b": "127.0.0.1:1"})
    told: list[bool] = []
    links.on_changed(lambda: told.append(links.outbound["node-b"].connected))
    links.set_connected("node-b", False, "UNAVAILABLE: connection refused")
    links.set_connected("node-b", False, "UNAUTHENTICATED: node-b: wrong token")
    assert links.outbound["node-b"].last_error == "UNAUTHENTICATED: node-b: wrong token"
    assert told == [False]  # the second failure changed the reason, not the state
    links.set_connected("node-b", False)  # cancelled: no reason, the last one stays
    assert links.outbound["node-b"].last_error == "UNAUTHENTICATED: node-b: wrong token"
    links.set_connected("node-b", True)
    assert links.outbound["node-b"].last_error == ""
    assert links.outbound["node-b"].connects == 1
    assert told == [False, True]
