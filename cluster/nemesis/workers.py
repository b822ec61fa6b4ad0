"""Client threads: puts and deletes through random live nodes, each recorded in the history.

An op is ``ok`` when acknowledged, ``fail`` when it certainly did not apply (the
node refused it as invalid, or it was never sent to a paused node) and ``info``
when it may or may not have applied (timeout, lost connection).
"""

from __future__ import annotations

import random
import threading

from cluster.client import NodeClient
from cluster.errors import NodeRefused, NodeUnreachable
from cluster.history import History, Op

DELETE_RATIO = 0.2
ANYWHERE = 0.05  # share of ops sent to any node, down or not: exercises fail and info
THINK = 0.02  # max pause between a worker's ops: load, not synchronisation
# Clients reconnect fast after a kill; grpc's default backoff grows to minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 300),
]


class Live:
    """Each node's state as the nemesis left it: up, paused or killed (thread-safe)."""

    def __init__(self, nodes: list[str]) -> None:
        self._lock = threading.Lock()
        self._state = dict.fromkeys(nodes, "up")

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(n for n, s in self._state.items() if s == "up")

    def state(self, node: str) -> str:
        with self._lock:
            return self._state[node]

    def set(self, node: str, state: str) -> None:
        with self._lock:
            self._state[node] = state


class Worker(threading.Thread):
    """One client: ops until ``stop``, each through a random live node (its own clients)."""

    def __init__(
        self,
        index: int,
        seed: int,
        addresses: dict[str, str],
        keys: list[str],
        history: History,
        live: Live,
        stop: threading.Event,
        op_timeout: float,
    ) -> None:
        super().__init__(name=f"nemesis-worker-{index}", daemon=True)
        self.index, self.keys, self.history, self.live = index, keys, history, live
        self.stop, self.op_timeout = stop, op_timeout
        self.rng = random.Random(f"{seed}/worker/{index}")
        self.addresses = addresses
        self.error: BaseException | None = None

    def run(self) -> None:
        clients = {n: NodeClient(n, a, options=CHANNEL_OPTIONS) for n, a in self.addresses.items()}
        try:
            count = 0
            while not self.stop.is_set():
                count += 1
                self._one(clients, count)
        except BaseException as exc:  # noqa: BLE001 - reported by run_nemesis
            self.error = exc
        finally:
            for client in clients.values():
                client.close()

    def _one(self, clients: dict[str, NodeClient], count: int) -> None:
        rng = self.rng
        key = rng.choice(self.keys)
        op = "delete" if rng.random() < DELETE_RATIO else "put"
        anywhere, pick, think = rng.random() < ANYWHERE, rng.random(), rng.uniform(0, THINK)
        choices = self.live.nodes() if not anywhere else []
        choices = choices or sorted(clients)
        node = choices[int(pick * len(choices))]
        value = f"w{self.index}-{count}" if op == "put" else None
        inv = self.history.invoke(self.index, node, op, key, value)
        if self.live.state(node) == "paused":  # like Cluster's client: refuse, never send
            self.history.complete(inv, "fail", error=f"refused before sending: {node} is paused")
        else:
            self._send(clients[node], inv)
        self.stop.wait(think)

    def _send(self, client: NodeClient, inv: Op) -> None:
        key = inv.key.encode()
        try:
            if inv.op == "put":
                v = client.put(key, (inv.value or "").encode(), timeout=self.op_timeout)
            else:
                v = client.delete(key, timeout=self.op_timeout)
        except (NodeRefused, NodeUnreachable) as exc:
            kind = "fail" if isinstance(exc, NodeRefused) else "info"
            self.history.complete(inv, kind, error=f"{exc.code}: {exc.details}")
            return
        self.history.complete(inv, "ok", hlc=v.hlc, origin=v.origin, seq=v.seq)
