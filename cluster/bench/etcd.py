"""etcd's side: a 3-member cluster on loopback, driven through its v3 JSON gateway."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.bench.phases import (
    BenchFailed,
    LatencyWriteFn,
    Observer,
    SendFn,
    make_keys,
    make_value,
    run_latency,
    run_load,
    wait_converged,
)
from cluster.bench.results import attach_latency, row
from cluster.bench.servers import ProcessGroup
from cluster.ports import free_ports
from cluster.wait import wait_for

HOST = "127.0.0.1"
ETCD_DURABILITY = "fsync WAL per commit (default); ack after quorum 2/3"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class EtcdGateway:
    """One keep-alive HTTP/1.1 connection to one etcd member's v3 JSON gateway.

    etcd serves grpc-gateway on its client port (JSON, bytes as base64, int64 as
    strings). Native gRPC would need etcd's .proto files, which Debian does not ship,
    and the `etcd3` package is unmaintained; the gateway costs etcd some JSON work per
    request, which the notes say.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def call(self, path: str, body: bytes) -> dict[str, Any]:
        self.conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BenchFailed(f"etcd {path}: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data)

    def put(self, body: bytes) -> int:
        """A pre-encoded PutRequest; returns the revision it committed at."""
        return int(self.call("/v3/kv/put", body)["header"]["revision"])

    def revision(self, serializable: bool = True) -> int:
        """The member's applied revision; serializable = this member's own view, no quorum."""
        body = b'{"key":"AA==","count_only":true,"serializable":%s}' % (
            b"true" if serializable else b"false"
        )
        return int(self.call("/v3/kv/range", body)["header"]["revision"])

    def healthy(self) -> bool:
        self.conn.request("GET", "/health")
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status == 200 and json.loads(data).get("health") == "true"

    def close(self) -> None:
        self.conn.close()


class EtcdWatch:
    """A v3 Watch on one member through the gateway's streaming ``POST /v3/watch``.

    The member sends an event as it applies a write, one JSON object per line of a
    chunked response, so the arrival time is apply time plus one loopback hop with no
    poll interval; the header revision says how far that member has applied.
    """

    def __init__(self, port: int, key: bytes) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=10)
        body = json.dumps({"create_request": {"key": _b64(key)}}).encode()
        self.conn.request("POST", "/v3/watch", body, {"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise BenchFailed(f"etcd watch: HTTP {self.resp.status}")
        created = json.loads(self.resp.readline()).get("result", {})
        if not created.get("created"):
            raise BenchFailed(f"etcd watch was not created: {created}")
        if self.conn.sock is not None:
            self.conn.sock.settimeout(None)  # idle is fine; close() ends the wait

    def next(self) -> list[int] | None:
        line = self.resp.readline()
        if not line:
            raise EOFError("etcd watch stream ended")
        result = json.loads(line).get("result", {})
        if not result.get("events"):
            return None
        return [int(result["header"]["revision"])]

    def close(self) -> None:
        if self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


def _put_body(key: bytes, value_b64: str) -> bytes:
    return f'{{"key":"{_b64(key)}","value":"{value_b64}"}}'.encode()


def start_etcd(group: ProcessGroup, root: Path, timeout: float, members: int = 3) -> list[int]:
    """A fresh ``members``-node etcd cluster on loopback; returns the client ports once
    every member reports healthy (it has a leader), which is etcd's own readiness."""
    ports = free_ports(2 * members)
    client, peer = ports[:members], ports[members:]
    names = [f"etcd{i}" for i in range(members)]
    initial = ",".join(f"{n}=http://{HOST}:{p}" for n, p in zip(names, peer, strict=True))
    for name, c, p in zip(names, client, peer, strict=True):
        group.start(
            name,
            [
                "etcd", "--name", name, "--data-dir", str(root / name), "--logger", "zap",
                "--listen-client-urls", f"http://{HOST}:{c}",
                "--advertise-client-urls", f"http://{HOST}:{c}",
                "--listen-peer-urls", f"http://{HOST}:{p}",
                "--initial-advertise-peer-urls", f"http://{HOST}:{p}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", root.name,
            ],
        )  # fmt: skip

    def all_healthy() -> bool:
        group.check_alive()
        for c in client:
            gw = EtcdGateway(c, timeout=2)
            try:
                if not gw.healthy():
                    return False
            finally:
                gw.close()
        return True

    wait_for(all_healthy, timeout=timeout, what="every etcd member to report healthy")
    return client


def bench_etcd(
    group: ProcessGroup, root: Path, w: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """etcd: load spread round-robin over members, converge on revisions, then latency."""
    ports = start_etcd(group, root, w["timeout"])
    log(f"etcd: 3 members up on client ports {ports}")
    value_b64 = _b64(make_value(w["value_size"]))
    bodies = [_put_body(k, value_b64) for k in make_keys(w["keys"])]
    nkeys = w["keys"]

    def connect(t: int) -> SendFn:
        gw = EtcdGateway(ports[t % len(ports)])
        gw.revision()  # connected before the clock starts

        def send(chunk: Sequence[int]) -> int:
            return max(gw.put(bodies[j % nkeys]) for j in chunk)

        return send

    load = run_load(connect, w["writes"], w["concurrency"], 1, w["timeout"], w["processes"])
    log(f"etcd: {load.acked:,} writes acked in {load.seconds:.2f} s; waiting for every member")
    members = [EtcdGateway(p) for p in ports]
    converged = wait_converged(lambda: all(m.revision() >= load.top for m in members), w["timeout"])
    for m in members:
        m.close()

    def writer(_w: int) -> LatencyWriteFn:
        gws = [EtcdGateway(p) for p in ports]

        def send(i: int) -> tuple[int, int, int]:
            m = i % len(gws)
            return 0, gws[m].put(_put_body(b"lat", _b64(str(i).encode()))), m

        return send

    def watcher(port: int) -> Callable[[], Observer]:
        return lambda: EtcdWatch(port, b"lat")

    log(f"etcd: latency at {w['latency_rate']}/s for {w['latency_seconds']} s")
    latency = run_latency(
        writer, [watcher(p) for p in ports], w["latency_rate"], w["latency_seconds"], w["timeout"]
    )
    notes = [
        f"3 members; {w['concurrency']} HTTP/1.1 keep-alive connections to the v3 JSON "
        "gateway, spread round-robin over members (followers forward to the leader)",
        "converged = every member's serializable revision >= the top acked revision",
    ]
    result = row("etcd", ETCD_DURABILITY, load, converged, notes)
    attach_latency(result, latency, "a v3 Watch stream per member (gateway, chunked JSON)")
    return result
