"""Load on a remesh cluster and what it sees: writer processes and Watch streams.

Load comes from client processes (spawned, one gRPC client each) sending
``PutBatch`` requests, so the Python client is not the single-threaded
bottleneck. Apply times come from the nodes' own ``Watch`` streams
(``applied_unix_ns``, the wall clock every node on this machine shares).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from cluster.api import Cluster
from cluster.bench.config import BenchConfig
from cluster.client import NodeClient
from cluster.errors import NodeUnreachable, OperationFailed
from cluster.secrets import Credentials
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb


class Watchers:
    """One Watch stream per node, recording when each key was applied there."""

    def __init__(self, c: Cluster, nodes: list[str], prefix: bytes) -> None:
        self.applied: dict[str, dict[bytes, int]] = {n: {} for n in nodes}
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
        except grpc.RpcError:
            pass

    def wait_all(self, keys: list[bytes], timeout: float) -> None:
        want = set(keys)
        wait_for(
            lambda: all(want <= set(s) for s in self.applied.values()),
            timeout,
            lambda: (
                "every key at every watcher: "
                + ", ".join(f"{n} {len(want - set(s))} missing" for n, s in self.applied.items())
            ),
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


def _client(
    address: str,
    prefix: str,
    value_size: int,
    keys: int,
    batch: int,
    seconds: float,
    total: int,
    out: Any,  # a multiprocessing Queue
    node: str = "",
    credentials: Credentials | None = None,
    distinct: bool = False,
) -> None:
    """A closed-loop writer: PutBatch until ``seconds`` pass or ``total`` writes are acked.

    Requests are built once and cycled, so the client spends its CPU on sending, not on
    building protobufs: on a 2-core machine clients share the cores with the nodes.
    ``distinct``: each write of a request its own random value (one value for all would
    let LevelDB's block compression shrink stored data far below its real size).
    """
    client = NodeClient(node or address, address, credentials=credentials)
    value = os.urandom(value_size // 2 + 1).hex()[:value_size].encode()

    def fresh() -> bytes:
        return os.urandom(value_size // 2 + 1).hex()[:value_size].encode() if distinct else value

    requests = [
        pb.PutBatchRequest(
            writes=[
                pb.Write(op=pb.PUT, key=f"{prefix}{(i + j) % keys}".encode(), value=fresh())
                for j in range(batch)
            ]
        )
        for i in range(0, min(keys, 50 * batch), batch)
    ]
    deadline = time.monotonic() + seconds
    acked = i = 0
    while time.monotonic() < deadline and (not total or acked < total):
        request = requests[i % len(requests)]
        i += 1
        if total and total - acked < batch:
            request = pb.PutBatchRequest(writes=request.writes[: total - acked])
        for attempt in range(3):
            try:
                client.call("PutBatch", request, timeout=60)
                break
            except NodeUnreachable as exc:
                # A transient refusal under CPU contention must not void the whole run; it
                # is said on stderr, and a third failure in a row still ends the client.
                if attempt == 2:
                    raise
                print(f"load client: {exc}; retrying", file=sys.stderr, flush=True)
                time.sleep(0.2 * (attempt + 1))
        acked += len(request.writes)
    out.put(acked)


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
    """Run ``clients`` writer processes spread over ``nodes``; returns (acked, seconds).
    ``distinct``: random values per write (see ``_client``)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    per = -(-total // clients) if total else 0
    procs = [
        ctx.Process(
            target=_client,
            args=(
                c.address(nodes[i % len(nodes)]),
                f"{prefix}{i}/",
                cfg.value_size,
                max(1, cfg.keys // clients),
                cfg.batch,
                seconds,
                per,
                out,
                nodes[i % len(nodes)],
                c.credentials(),
                distinct,
            ),
        )
        for i in range(clients)
    ]
    start = time.monotonic()
    for p in procs:
        p.start()
    results: list[int] = []
    deadline = start + seconds + 600
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise OperationFailed(  # noqa: B904 - not caused by the Empty
                    f"{len(dead)} load client(s) failed (exit codes "
                    f"{[p.exitcode for p in dead]}); see their stderr above"
                )
    acked = sum(results)
    took = time.monotonic() - start
    for p in procs:
        p.join(30)
    return acked, took
