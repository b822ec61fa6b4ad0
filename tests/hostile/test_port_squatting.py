"""Hostile catalogue: a stranger binds the port of a stopped node (or of the link proxy)
and records everything that arrives. Any local user can bind a port above 1024; a bearer
token sent to whatever answers would be theirs. On a real cluster (supervisord, node
processes, the link proxy): the peers' links and every tool verb ask the squatter to prove
it holds the token, it cannot, and nothing secret (the token, or a proof it could use)
ever reaches it; the tool says what it found on the port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from cluster.api import Cluster
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb

pytestmark = pytest.mark.integration

CHALLENGE = "/remesh.v1.Auth/Challenge"


class Squatter(grpc.GenericRpcHandler):
    """A gRPC server that answers every method and keeps what each call carried. It
    answers a challenge as node-b of the cluster would, without the token."""

    def __init__(self, cluster: str, node: str) -> None:
        self.cluster, self.node = cluster, node
        self.calls: list[tuple[str, tuple, bytes]] = []  # (method, metadata, request bytes)
        self.lock = threading.Lock()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method, metadata = details.method, tuple(details.invocation_metadata)

        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            body = b""
            for request in requests:
                body += request
                if method == CHALLENGE:
                    with self.lock:
                        self.calls.append((method, metadata, body))
                    yield pb.ChallengeResponse(
                        cluster=self.cluster,
                        node_id=self.node,
                        server_nonce=os.urandom(32),
                        proof=os.urandom(32),
                    ).SerializeToString()
                    return
                break
            with self.lock:
                self.calls.append((method, metadata, body))
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "a squatter")

        return grpc.stream_stream_rpc_method_handler(handle)

    def methods(self) -> list[str]:
        with self.lock:
            return [m for m, _, _ in self.calls]

    def carried(self) -> bytes:
        """Every metadata value and request byte that arrived, joined."""
        with self.lock:
            out = b""
            for _, metadata, body in self.calls:
                for key, value in metadata:
                    out += (
                        key.encode()
                        + b"="
                        + (value if isinstance(value, bytes) else value.encode())
                    )
                out += body
            return out


def squat(port: int, handler: grpc.GenericRpcHandler) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(4), options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    wait_for(
        lambda: server.add_insecure_port(f"127.0.0.1:{port}") == port,
        10,
        f"port {port} to be free for the squatter",
    )
    server.start()
    return server


class RawSquatter:
    """A TCP listener that records every byte sent to it (the proxy's control port)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        wait_for(lambda: self._bind(port), 10, f"port {port} to be free for the squatter")
        self.sock.listen()
        self.received = b""
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _bind(self, port: int) -> bool:
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                    self.received += data
                    # answer a challenge like a proxy would, without the token
                    conn.sendall(b'{"ok": true, "nonce": "' + b"00" * 16 + b'", "proof": "00"}\n')
                    self.received += conn.recv(65536)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", "--home", str(home), *args],
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(params=[False, True], ids=["plaintext", "tls"])
def mesh3(request, tmp_path) -> Iterator[Cluster]:
    c = Cluster.up("mesh3", home=tmp_path / "home", tls=request.param)
    try:
        yield c
    finally:
        c.down(purge=True)


def test_a_squatter_on_a_stopped_nodes_port_gets_no_secret(mesh3, tmp_path):
    c = mesh3
    token = (c.dir / "secrets" / "token").read_bytes().strip()
    c.write("node-a", b"k", b"v")
    port = c.port("node-b")
    c.kill("node-b")
    squatter = Squatter("mesh3", "node-b")
    server = squat(port, squatter)
    home = tmp_path / "home"
    try:
        results = {
            verb: cli(home, *verb.split())
            for verb in ("read node-b k", "write node-b k2 v", "status --json", "scan node-b")
        }
        if not c.tls:  # the peers dial node-b through the proxy: they challenge it too
            wait_for(
                lambda: squatter.methods().count(CHALLENGE) >= 2 + len(results),
                30,
                lambda: f"node-a and node-c to dial the squatter; it saw {squatter.methods()}",
            )
        carried = squatter.carried()
        assert token not in carried and token.hex().encode() not in carried
        assert b"authorization" not in carried, "a call went on past a failed challenge"
        assert set(squatter.methods()) <= {CHALLENGE}, squatter.methods()
        for verb in ("read node-b k", "write node-b k2 v", "scan node-b"):
            p = results[verb]
            err = p.stderr.decode()
            assert p.returncode != 0, (verb, err)
            assert "Traceback" not in err, err
            if c.tls:  # the handshake fails: the squatter has no certificate of the CA
                assert "node-b" in err, err
            else:
                assert "is not node-b of this cluster" in err, err
                assert "cannot prove it holds the token" in err, err
                assert "Nothing secret was sent to it" in err, err
        assert results["status --json"].returncode in (0, 1)
        logs = c.log_path("node-a").read_text()
        if not c.tls:
            assert "is not node-b" in logs and "nothing secret was sent to it" in logs
    finally:
        server.stop(0)
    c.start("node-b")  # the real node gets its port back; the cluster carries on
    c.write("node-b", b"after", b"1")
    c.converge(timeout=30)


def test_a_squatter_on_the_proxys_control_port_gets_no_secret(tmp_path):
    c = Cluster.up("mesh3", home=tmp_path / "home")
    try:
        token = (c.dir / "secrets" / "token").read_bytes().strip()
        control = json.loads((c.dir / "cluster.json").read_text())["proxy"]["control"]
        port = int(control.rsplit(":", 1)[1])
        os.kill(c.processes()["proxy"].pid, signal.SIGKILL)
        squatter = RawSquatter(port)
        try:
            p = cli(tmp_path / "home", "partition", "node-a", "node-b,node-c")
            err = p.stderr.decode()
            assert p.returncode != 0 and "Traceback" not in err, err
            assert "is not this cluster's link proxy" in err, err
            assert "Nothing secret was sent to it" in err, err
            assert squatter.connections >= 1
            assert token not in squatter.received and b"proof" not in squatter.received
            assert b'"op": "challenge"' in squatter.received
        finally:
            squatter.close()
    finally:
        c.down(purge=True)
