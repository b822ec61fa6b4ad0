"""The peers' load generator splits its writes over forked processes exactly."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from cluster.bench.phases import run_load

pytestmark = pytest.mark.component


def test_a_load_spread_over_processes_writes_every_index_once() -> None:
    """Threads in forked processes split the indices exactly: nothing twice, nothing lost."""
    seen = mp.get_context("fork").Queue()
    lock = threading.Lock()

    def connect(t: int):
        def send(chunk):
            with lock:
                for i in chunk:
                    seen.put(i)
            return max(chunk)

        return send

    load = run_load(connect, writes=200, concurrency=6, batch=7, timeout=60, processes=3)
    got = sorted(seen.get(timeout=10) for _ in range(200))
    assert got == list(range(200))
    assert seen.empty()
    assert (load.acked, load.errors, load.top) == (200, 0, 199)
    assert len(load.ack_ns) == 200
