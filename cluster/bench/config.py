"""What ``cluster bench`` measures and with which workload."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

SECTIONS = (
    "latency",
    "throughput",
    "catchup",
    "heal",
    "fanout",
    "startup",
    "bootstrap",
    "soak-disk",
    "floor",
    "apply",
)
STANDALONE = {"startup", "bootstrap", "soak-disk", "floor", "apply"}  # need no cluster


RATE_PER_CORE = 2_500  # writes/s the latency section's top rate asks per core
TOP_RATE = 10_000


def default_rates(cores: int | None = None) -> list[int]:
    """1,000/s and a top rate the load generator can offer beside the cluster on this
    machine: 2,500/s per core up to 10,000/s. On 2 cores 10,000/s fell behind (the
    generator offered 6,400-7,700/s: docs/benchmarks.md) and ``bench`` exited 1."""
    n = cores if cores is not None else len(os.sched_getaffinity(0))
    return [1000, max(1000, min(TOP_RATE, RATE_PER_CORE * n))]


@dataclass
class BenchConfig:
    value_size: int = 100
    keys: int = 100_000
    rates: list[int] = field(default_factory=default_rates)
    latency_seconds: float = 3.0
    throughput_seconds: float = 10.0
    clients: int = 4  # generator processes
    concurrency: int = 4  # requests in flight per generator process
    batch: int = 500
    stream: bool = False  # single writes as Writes stream messages, not unary Put calls
    catchup_entries: int = 1_000_000
    heal_writes: int = 10_000
    fanout_writes: int = 3000
    bootstrap_keys: int = 1_000_000
    soak_writes: int = 1_000_000
    soak_keys: int = 10_000
    apply_entries: int = 200_000
