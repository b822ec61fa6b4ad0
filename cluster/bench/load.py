"""Load on a remesh cluster and what it sees: generator processes and Watch streams.

Load comes from ``cluster.bench.driver``'s spawned processes, so the Python client is
not the single-threaded bottleneck. Apply times come from the nodes' own ``Watch``
streams (``applied_unix_ns``, the wall clock every node on this machine shares).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.bench.driver import Generated, Target, Work, closed_loop
from cluster.errors import OperationFailed
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb


class Watchers:
    """One Watch stream per node, recording when each key was applied there."""

    def __init__(self, c: Cluster, nodes: list[str], prefix: bytes) -> None:
        self.applied: dict[str, dict[bytes, int]] = {n: {} for n in nodes}
        self.ended: dict[str, str] = {}  # node -> why its stream ended (a snapshot, ...)
        self.calls: list[Any] = []
        self.threads: list[threading.Thread] = []
        # Their own connections, not the cluster's: the measured writes share none of them.
        self.clients = [c.connect(n) for n in nodes]
        for n, client in zip(nodes, self.clients, strict=True):
            call = client.kv.Watch(pb.WatchRequest(prefix=prefix))
            self.calls.append(call)
            t = threading.Thread(target=self._drain, args=(n, call), daemon=True)
            t.start()
            self.threads.append(t)

    def _drain(self, node: str, call: Any) -> None:
        seen = self.applied[node]
        try:
            for msg in call:
                for change in msg.changes:
                    seen[change.entry.key] = change.applied_unix_ns
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:  # not our own close()
                self.ended[node] = f"{exc.code().name}: {exc.details()}"

    def wait_all(self, keys: list[bytes], timeout: float) -> None:
        want = set(keys)

        def arrived() -> bool:
            if self.ended:  # its keys will never come: say why now, not at the timeout
                raise OperationFailed(
                    "a Watch stream the latency is measured with ended: "
                    + "; ".join(f"{n}: {why}" for n, why in self.ended.items())
                )
            return all(want <= set(s) for s in self.applied.values())

        wait_for(
            arrived,
            timeout,
            lambda: (
                "every key at every watcher: "
                + ", ".join(f"{n} {len(want - set(s))} missing" for n, s in self.applied.items())
            ),
            fatal=(OperationFailed,),
        )

    def ready(
        self, write_marker: Callable[[int], object], marker: bytes, timeout: float = 10
    ) -> None:
        """Write markers until every stream has seen one: then all are registered."""
        i = 0

        def seen() -> bool:
            nonlocal i
            if all(any(k.startswith(marker) for k in s) for s in self.applied.values()):
                return True
            write_marker(i)
            i += 1
            return False

        wait_for(seen, timeout, "every Watch stream to see a marker write")

    def close(self) -> None:
        for call in self.calls:
            call.cancel()
        for client in self.clients:
            client.close()


def load_run(
    c: Cluster,
    nodes: list[str],
    clients: int,
    seconds: float,
    total: int,
    cfg: BenchConfig,
    prefix: str,
    batch: int = 0,
    distinct: bool = False,
) -> Generated:
    """``clients`` generator processes spread over ``nodes``, ``cfg.concurrency`` requests
    in flight each, ``batch`` writes per request (0: ``cfg.batch``); ``distinct``: see
    ``Work``."""
    targets = [Target(n, c.address(n)) for n in nodes]
    work = Work(prefix, cfg.keys, batch or cfg.batch, cfg.value_size, distinct, cfg.stream)
    return closed_loop(targets, work, clients, cfg.concurrency, seconds, total, c.credentials())


def load(
    c: Cluster,
    nodes: list[str],
    clients: int,
    seconds: float,
    total: int,
    cfg: BenchConfig,
    prefix: str,
    distinct: bool = False,
) -> tuple[int, float]:
    """Run ``clients`` writer processes spread over ``nodes``; returns (acked, seconds)."""
    run = load_run(c, nodes, clients, seconds, total, cfg, prefix, distinct=distinct)
    return run.acked, run.seconds
