"""Resident memory of a real node process, watched while hostile streams press on it.

``Probe`` samples the node's VmRSS (from /proc, the node's process, not the test's)
and asks it for a key on a background thread for as long as a case runs: the peak,
and every Get that failed, are what the memory cases assert on.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import yaml

from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb
from tests.integration.nodeproc import NodeProc

MIB = 1 << 20
SAMPLE_S = 0.1


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class Probe:
    """While open: the node's peak RSS, and Gets of ``key`` that failed (with why)."""

    def __init__(self, node: NodeProc, key: bytes = b"probe") -> None:
        assert node.proc is not None
        self.node, self.key, self.pid = node, key, node.proc.pid
        self.before = rss_mib(self.pid)
        self.peak = self.before
        self.gets = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib(self.pid))
            try:
                got = self.node.kv.Get(pb.GetRequest(key=self.key), timeout=5)
                if not got.found:
                    self.failed.append("the probe key was not found")
                self.gets += 1
            except grpc.RpcError as exc:
                self.failed.append(f"{exc.code().name}: {exc.details()}")
            if self._stop.wait(SAMPLE_S):
                return

    def grew(self) -> float:
        return self.peak - self.before

    def verdict(self, growth_mib: float, kept_mib: float | None = None) -> None:
        """The case's memory held to ``growth_mib`` at its peak, every Get answered
        meanwhile, and (``kept_mib``) the memory given back once its streams ended."""
        assert self.grew() < growth_mib, self.report()
        assert not self.failed and self.gets, self.report()
        if kept_mib is not None:
            wait_for(lambda: rss_mib(self.pid) < self.before + kept_mib, 10, self.report)

    def report(self) -> str:
        now = rss_mib(self.pid)
        return (
            f"node RSS {self.before:.0f} MiB before, peak {self.peak:.0f}, now {now:.0f}; "
            f"{self.gets} Gets answered, {len(self.failed)} failed {self.failed[:3]}"
        )


class Held:
    """A request stream that sends ``first`` messages and then nothing until released
    (the client neither ends its side nor reads: what a stuck or hostile client does)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def stream(self, *first: object) -> Iterator[object]:
        yield from first
        self.release.wait(120)


def metric(node: NodeProc, series: str) -> float:
    """One series of the node's /metrics (its ``metrics_listen`` setting), 0 if absent."""
    address = yaml.safe_load(node.config.read_text())["metrics_listen"]
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as got:
        for line in got.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
    return 0.0


def write_big(node: NodeProc, batches: int, values: int = 4, size: int = 512 << 10) -> None:
    """``batches`` PutBatch calls of ``values`` values of ``size`` bytes (keys reused)."""
    for i in range(batches):
        writes = [
            pb.Write(op=pb.PUT, key=b"big-%d" % ((i * values + j) % 64), value=b"v" * size)
            for j in range(values)
        ]
        node.kv.PutBatch(pb.PutBatchRequest(writes=writes), timeout=30)
