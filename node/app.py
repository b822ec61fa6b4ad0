"""A replica node in-process: the gRPC server, the peer links and the replica.

The same object the ``python -m node`` runner drives, usable directly from
asyncio to embed a replica in an application::

    node = Node(NodeConfig(node_id="a", data_dir=Path("data/a"), cluster="demo"), token=TOKEN)
    await node.start()              # listens on config.listen (port 0: any free port)
    node.add_peer("b", "127.0.0.1:9702")
    version = await node.put(b"k", b"v")
    record = node.get(b"k")         # Record(hlc, origin, op, value, seq) or None
    await node.stop()

``token``: every KV, Replication and Admin call must present it (``node.api.auth``), and the
node presents it to its peers; None serves without authentication (any process that
reaches the port may read and write). ``tls``: serve mutual TLS and dial peers with it
(``node.api.tls``).
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from node.api.admin import AdminService
from node.api.auth import ChallengeService, TokenAuth
from node.api.gate import WriteGate
from node.api.limits import server_limits
from node.api.service import KVService, ReplicationService
from node.api.tls import TlsFiles
from node.config import NodeConfig, parse_address
from node.observability.exposition import MetricsServer, text
from node.observability.logfmt import quiet_gone_peers
from node.observability.status import status_of
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.protocol.ops import LIVE
from node.replica import Replica
from node.replication.outbound import PeerLink
from node.storage.store import Record

log = logging.getLogger("node")

MAX_RPCS = 1024  # calls served at once; past it RESOURCE_EXHAUSTED (memory: docs/bounds.md)
SERVER_OPTIONS = [  # and the message limits of node.api.limits
    # Notice subscribers that vanished behind a silent network.
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 3000),
    ("grpc.http2.min_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),
    # A stream's receive window stays at 1 MiB: with BDP probing it grew per stream
    # into tens of MiB that gRPC buffered for clients whose writes waited (40 Writes
    # streams: 60 MiB -> 1.5 GB resident).
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 1 << 20),
]


# Server reflection (`grpcurl -plaintext ADDR list`) describes these: every service of
# remesh.proto, health, and reflection itself. It serves the schema and nothing else.
REFLECTED = (
    *(service.full_name for service in pb.DESCRIPTOR.services_by_name.values()),
    health.SERVICE_NAME,
    reflection.SERVICE_NAME,
)


class Node:
    def __init__(
        self, config: NodeConfig, token: str | None = None, tls: TlsFiles | None = None
    ) -> None:
        self.config = config.validate()
        self.token, self.tls = token, tls
        self.auth = TokenAuth(token, config.cluster, config.node_id) if token else None
        self._replica: Replica | None = None
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.links: dict[str, PeerLink] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.address = ""
        self.metrics: MetricsServer | None = None
        self.gate = WriteGate(config.node_id)

    @property
    def replica(self) -> Replica:
        if self._replica is None:
            raise RuntimeError(f"node {self.config.node_id} is not started: await start() first")
        return self._replica

    async def start(self) -> None:
        cfg = self.config
        host, _ = parse_address(cfg.listen, "listen")
        quiet_gone_peers()  # a client gone mid-send is not this node's error
        self._replica = Replica(cfg)
        # Authentication is the one interceptor: a refused call reaches nothing else. (The
        # write gate is in the KV write path: an interceptor costs every call.)
        interceptors = [self.auth] if self.auth else []
        if self.auth:
            self.auth.on_refused = lambda: self.replica.metrics.reject("auth")
        options = [*SERVER_OPTIONS, *server_limits(cfg)]
        self.server = grpc.aio.server(
            options=options, interceptors=interceptors, maximum_concurrent_rpcs=MAX_RPCS
        )
        pb_grpc.add_KVServicer_to_server(KVService(self.replica, self.gate), self.server)
        replication = ReplicationService(self.replica, certified=self.tls is not None)
        pb_grpc.add_ReplicationServicer_to_server(replication, self.server)
        pb_grpc.add_AdminServicer_to_server(
            AdminService(self.replica, cfg, self, self.gate), self.server
        )
        if self.auth:
            self.auth.renew()  # proofs made for an earlier start are worth nothing now
            pb_grpc.add_AuthServicer_to_server(ChallengeService(self.auth.issuer), self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(REFLECTED, self.server)
        try:
            if self.tls:
                port = self.server.add_secure_port(cfg.listen, self.tls.server_credentials())
            else:
                port = self.server.add_insecure_port(cfg.listen)
        except RuntimeError as exc:
            self.replica.store.close()
            raise OSError(f"cannot listen on {cfg.listen}: {exc} (port in use?)") from None
        self.address = f"{host}:{port}"
        self.metrics = MetricsServer(self.replica, asyncio.get_running_loop())
        if cfg.metrics_listen:
            try:
                self.metrics.start(*parse_address(cfg.metrics_listen, "metrics_listen"))
            except OSError:
                self.replica.store.close()
                raise
        await self.server.start()
        self.replica.start()
        self._replica.health.on_change(self._set_health)
        for peer, address in cfg.peers.items():
            self._start_link(peer, address)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "%s: serving on %s (%s; cluster %s, tenant %s, %s, peers %s, vv %s%s)",
            cfg.node_id,
            self.address,
            ("mutual TLS" if self.tls else "plaintext")
            + (", token required" if self.auth else ", NO token required"),
            cfg.cluster,
            cfg.tenant,
            cfg.durability,
            ",".join(cfg.peers) or "none",
            self.replica.vv,
            f", metrics on http://{self.metrics.address}/metrics" if self.metrics.address else "",
        )

    def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        task = asyncio.get_running_loop().create_task(self.health.set("", status))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def add_peer(self, peer: str, address: str) -> None:
        """Subscribe to one more peer (at runtime or before start)."""
        self.config.peers[peer] = address
        if self._replica is not None:
            self._replica.links.add_peer(peer, address)
            self._start_link(peer, address)

    async def remove_peer(self, peer: str) -> None:
        """Stop subscribing to a peer and forget its link and stats (at runtime too)."""
        self.config.peers.pop(peer, None)
        link = self.links.pop(peer, None)
        if link is not None:
            await link.stop()
        if self._replica is not None:
            self._replica.links.remove_peer(peer)

    def _start_link(self, peer: str, address: str) -> None:
        link = PeerLink(self.replica, peer, address, self.token, self.tls)
        self.links[peer] = link
        link.start()

    async def stop(self, grace: float = 1.0) -> None:
        """Stop accepting, finish in-flight writes, checkpoint watermarks, close."""
        if self.server is None:
            return
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(*(link.stop() for link in self.links.values()))
        self.replica.begin_shutdown()
        await self.server.stop(grace)
        # Let the server's own per-RPC tasks finish sending their final status, so the
        # loop's shutdown does not cancel (and grpc log) them.
        rest = [
            t
            for t in asyncio.all_tasks()
            if t.get_name().startswith("HandleExceptions[") or t.get_name() == "rpc_task"
        ]
        if rest:
            await asyncio.wait(rest, timeout=grace)
        await self.replica.close()
        if self.metrics is not None:
            await self.metrics.stop()
        self.server = None
        log.info("%s: stopped (vv %s)", self.config.node_id, self.replica.vv)

    # ------------------------------------------------------------ library API
    async def put(self, key: bytes, value: bytes) -> pb.Version:
        return (await self.replica.write([pb.Write(op=pb.PUT, key=key, value=value)]))[0]

    async def delete(self, key: bytes) -> pb.Version:
        return (await self.replica.write([pb.Write(op=pb.DELETE, key=key)]))[0]

    async def write_batch(self, writes: list[pb.Write]) -> list[pb.Version]:
        return await self.replica.write(writes)

    def get(self, key: bytes) -> Record | None:
        """The key's live record, or None when absent or deleted."""
        rec = self.replica.get(key)
        return rec if rec is not None and rec.op in LIVE else None

    def scan(self, prefix: bytes = b"", limit: int = 0) -> list[tuple[bytes, Record]]:
        """Every live key under ``prefix`` (at most ``limit``), however many pages."""
        return self.replica.store.scan(prefix, limit)[0]

    def status(self) -> pb.StatusResponse:
        return status_of(self.replica)

    def metrics_text(self) -> str:
        """This node's Prometheus exposition, as ``/metrics`` serves it (served or not)."""
        if self.metrics is None:
            raise RuntimeError(f"node {self.config.node_id} is not started: await start() first")
        return text(self.metrics.registry)
