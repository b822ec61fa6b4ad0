"""What ``cluster bench`` measures and with which workload."""

from __future__ import annotations

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


@dataclass
class BenchConfig:
    value_size: int = 100
    keys: int = 100_000
    rates: list[int] = field(default_factory=lambda: [1000, 10000])
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
