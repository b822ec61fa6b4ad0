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
from cluster.secrets import Credentials

DELETE_RATIO = 0.2
ANYWHERE = 0.05  # share of ops sent to any node, down or not: exercises fail and info
THINK = 0.02  # max pause between a worker's ops: load, not synchronisation


class Live:
    """Each member's address and state as the nemesis left it: up, paused, killed or
    leaving (thread-safe). Members join and leave with the membership fault."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self._state = dict.fromkeys(addresses, "up")
        self._address = dict(addresses)

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(n for n, s in self._state.items() if s == "up")

    def members(self) -> list[str]:
        with self._lock:
            return sorted(self._state)

    def lookup(self, node: str) -> tuple[str, str]:
        """``node``'s state and address (``gone``, "" once it left)."""
        with self._lock:
            return self._state.get(node, "gone"), self._address.get(node, "")

    def join(self, node: str, address: str) -> None:
        with self._lock:
            self._state[node], self._address[node] = "up", address

    def leave(self, node: str) -> None:
        with self._lock:
            self._state.pop(node, None)

    def state(self, node: str) -> str:
        with self._lock:
            return self._state.get(node, "gone")

    def set(self, node: str, state: str) -> None:
        with self._lock:
            self._state[node] = state


class Worker(threading.Thread):
    """One client: ops until ``stop``, each through a random live node (its own clients)."""

    def __init__(
        self,
        index: int,
        seed: int,
        keys: list[str],
        history: History,
        live: Live,
        stop: threading.Event,
        op_timeout: float,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(name=f"nemesis-worker-{index}", daemon=True)
        self.credentials = credentials
        self.index, self.keys, self.history, self.live = index, keys, history, live
        self.stop, self.op_timeout = stop, op_timeout
        self.rng = random.Random(f"{seed}/worker/{index}")
        self.error: BaseException | None = None

    def run(self) -> None:
        clients: dict[tuple[str, str], NodeClient] = {}  # a re-added node has a new address
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

    def _one(self, clients: dict[tuple[str, str], NodeClient], count: int) -> None:
        rng = self.rng
        key = rng.choice(self.keys)
        op = "delete" if rng.random() < DELETE_RATIO else "put"
        anywhere, pick, think = rng.random() < ANYWHERE, rng.random(), rng.uniform(0, THINK)
        choices = self.live.nodes() if not anywhere else []
        choices = choices or self.live.members()
        node = choices[int(pick * len(choices))]
        value = f"w{self.index}-{count}" if op == "put" else None
        inv = self.history.invoke(self.index, node, op, key, value)
        state, address = self.live.lookup(node)
        if state in ("paused", "gone"):  # like Cluster's client: refuse, never send
            self.history.complete(inv, "fail", error=f"refused before sending: {node} is {state}")
        else:
            if (node, address) not in clients:
                clients[node, address] = NodeClient(node, address, credentials=self.credentials)
            self._send(clients[node, address], inv)
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
