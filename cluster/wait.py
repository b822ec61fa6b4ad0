"""Waiting on conditions, never on fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """A condition did not hold in time; the message says what was still missing."""


def wait_for(
    check: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.02,
    max_interval: float = 0.2,
    fatal: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``check`` until it returns something truthy; return that.

    ``what`` describes what is awaited (or is called for a description of what
    is still missing, evaluated at timeout). Exceptions from ``check`` count as
    "not yet" and the last one is reported on timeout, except those in ``fatal``:
    they mean waiting is pointless and propagate at once.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last_error = exc
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            extra = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {desc}{extra}")
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)
