"""The tool's gRPC clients reach a node whose handshake is slow (a loaded machine).

CI once failed with ``node-a is not answering ... tcp handshaker shutdown`` while
node-a was RUNNING and busy: the client channels set ``grpc.min_reconnect_backoff_ms``
to 50, and gRPC core also uses that value as the *connect timeout* (clamped to
100 ms). Any node slower than 100 ms to answer a new connection was reported down.
The test puts a relay in front of a real gRPC server that holds each new connection
for 400 ms before passing bytes on, as a busy node does, and calls through every
channel configuration in use: the tool's (CLI, library, nemesis, bench) and
the nodes' peer links.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from cluster.client import CLIENT_OPTIONS, NodeClient
from node.replication.outbound import CHANNEL_OPTIONS as PEER_OPTIONS

pytestmark = pytest.mark.integration

HOLD_S = 0.4  # the server's answer to a new connection arrives this late


class SlowStart:
    """A TCP relay that accepts at once but holds each new connection ``HOLD_S``."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        time.sleep(HOLD_S)  # the busy server: a stand-in delay, not synchronisation
        try:
            upstream = socket.create_connection(self.target)
        except OSError:  # the server stopped first, at teardown
            conn.close()
            return
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.sock.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def slow_server() -> Iterator[SlowStart]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    relay = SlowStart(f"127.0.0.1:{port}")
    yield relay
    relay.close()
    server.stop(None)


@pytest.mark.parametrize("options", [CLIENT_OPTIONS, PEER_OPTIONS], ids=["tool", "peer-link"])
def test_a_node_slow_to_answer_a_connection_is_not_reported_down(slow_server, options):
    client = NodeClient("node-a", slow_server.address, options=options)
    try:
        assert client.serving(timeout=10), (
            f"a server answering new connections after {HOLD_S}s was reported down "
            f"({slow_server.accepted} connection attempts)"
        )
    finally:
        client.close()
