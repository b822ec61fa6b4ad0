"""Client workloads for convergence scenarios, and the last-writer-wins oracle."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from cluster.api import Cluster
from cluster.faults.model import cut_faults


@dataclass(frozen=True)
class Acked:
    key: bytes
    hlc: int
    origin: str
    value: bytes | None  # None: a delete

    @property
    def version(self) -> tuple[int, str]:
        return (self.hlc, self.origin)


def write_load(
    c: Cluster,
    nodes: list[str],
    per_node: int,
    keys: int = 20,
    delete_every: int = 5,
    seed: int = 0,
    batch: int = 1,
    stream: bool = False,
) -> list[Acked]:
    """Every node in ``nodes`` writes concurrently (one thread each); returns acked ops.
    ``batch`` writes go as one PutBatch, or with ``stream`` each its own write pipelined
    on a Writes stream."""
    acked: list[Acked] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(node: str, rng: random.Random) -> None:
        try:
            for i in range(0, per_node, batch):
                items: list[tuple[bytes, bytes | None]] = []
                for j in range(i, min(i + batch, per_node)):
                    key = b"key-%d" % rng.randrange(keys)
                    value = None if rng.randrange(delete_every) == 0 else f"{node}-{j}".encode()
                    items.append((key, value))
                if stream:
                    results = c.write_each(node, items)
                    assert not [r.error for r in results if r.error], results
                    versions = [r.version for r in results]
                else:
                    versions = c.write_batch(node, items)
                with lock:
                    acked.extend(
                        Acked(k, v.hlc, v.origin, val)
                        for (k, val), v in zip(items, versions, strict=True)
                    )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(n, random.Random(f"{seed}-{n}"))) for n in nodes
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return acked


def assert_lww(c: Cluster, acked: list[Acked], nodes: list[str] | None = None) -> None:
    """Every node holds, for every key, the maximum-version acked write (or its tombstone)."""
    best: dict[bytes, Acked] = {}
    for a in acked:
        if a.key not in best or a.version > best[a.key].version:
            best[a.key] = a
    for node in nodes or c.running_nodes():
        for key, want in best.items():
            r = c.client(node).get(key, timeout=5)
            got = (r.version.hlc, r.version.origin)
            assert got == want.version, f"{node} {key!r}: version {got}, expected {want.version}"
            if want.value is None:
                assert not r.found, f"{node} {key!r}: deleted key came back as {r.value!r}"
            else:
                assert r.found and r.value == want.value, f"{node} {key!r}: {r.value!r}"


def set_links(c: Cluster, pairs: list[tuple[str, str]], mode: str = "blackhole") -> None:
    """Cut the given undirected pairs (both directions)."""
    c.set_link_faults(cut_faults(pairs, mode))


def links_down(c: Cluster, node: str, peers: list[str]) -> bool:
    st = c.node_status(node)
    state = {p.peer: p.connected for p in st.peers if p.address}
    return all(not state[p] for p in peers)
