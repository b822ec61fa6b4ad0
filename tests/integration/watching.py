"""Waiting until a Watch stream is registered on its node.

The node registers a Watch some time after the client started the call, and a write
that commits before then is never sent to it: a test that writes once and waits for
the event hangs now and then (it did under ``-n 2``). So a test writes probes until
one arrives, the pattern ``cluster.bench`` uses for its latency watchers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from cluster.wait import wait_for

T = TypeVar("T")


def until_delivered(
    first: Callable[[], T], probe: Callable[[int], object], what: str, timeout: float = 30
) -> T:
    """``first()`` (blocking: the stream's first message, or a line from a process that
    reads one) runs in a thread while ``probe(0)``, ``probe(1)``, ... write; returns what
    it returned, or raises what it raised."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = first()
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread
            box["error"] = exc

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    sent = 0

    def delivered() -> bool:
        nonlocal sent
        if not reader.is_alive():
            return True
        probe(sent)
        sent += 1
        return False

    wait_for(delivered, timeout, lambda: f"{what} ({sent} probe writes sent)")
    if "error" in box:
        raise box["error"]
    return box["value"]
