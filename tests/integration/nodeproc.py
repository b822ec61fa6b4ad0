"""Real ``python -m node`` processes for integration tests, without the cluster tool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.client import open_channel
from cluster.secrets import Credentials
from cluster.wait import wait_for
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

UNEXPECTED = ("ERROR", "Traceback", "CRITICAL")
TOKEN = "nodeproc-test-token-0123456789abcdef"  # every NodeProc of a test shares it


class NodeProc:
    def __init__(
        self,
        root: Path,
        name: str,
        port: int,
        peers: dict[str, int],
        cluster: str = "it",
        token: str = TOKEN,
        **settings,
    ) -> None:
        self.name, self.port = name, port
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "node.yaml"
        self.log = self.dir / "node.log"
        cfg = {
            "node_id": name,
            "cluster": cluster,
            "listen": f"127.0.0.1:{port}",
            "data_dir": "data",
            "peers": {p: f"127.0.0.1:{pp}" for p, pp in peers.items()},
            "heartbeat_ms": 100,
            "link_timeout_ms": 1000,
            "watermark_every_ms": 100,
            **settings,
        }
        self.config.write_text(yaml.safe_dump(cfg))
        self.token_file = self.dir / "token"
        self.token_file.write_text(token + "\n")
        self.token_file.chmod(0o600)
        self.proc: subprocess.Popen | None = None
        self.address = f"127.0.0.1:{port}"
        self.channel = open_channel(name, self.address, Credentials(token))
        self.kv = pb_grpc.KVStub(self.channel)

    def start(self, timeout: float = 15) -> NodeProc:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "node", "--config", str(self.config)),
                    *("--token-file", str(self.token_file)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        health = health_pb2_grpc.HealthStub(self.channel)

        def serving():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            r = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            return r.status == health_pb2.HealthCheckResponse.SERVING

        wait_for(serving, timeout, f"{self.name} to serve on port {self.port}")
        return self

    def status(self) -> pb.StatusResponse:
        return self.kv.Status(pb.StatusRequest(), timeout=5)

    def put(self, key: bytes, value: bytes) -> pb.Version:
        return self.kv.Put(pb.PutRequest(key=key, value=value), timeout=10).version

    def get(self, key: bytes) -> bytes | None:
        r = self.kv.Get(pb.GetRequest(key=key), timeout=5)
        return r.value if r.found else None

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 10) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text().splitlines()[-n:]) if self.log.exists() else ""

    def unexpected_log_lines(self) -> list[str]:
        if not self.log.exists():
            return []
        return [
            line
            for line in self.log.read_text().splitlines()
            if any(word in line for word in UNEXPECTED)
        ]

    def close(self) -> None:
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        finally:
            self.channel.close()


def converged(nodes: list[NodeProc]) -> bool:
    states = [(n.status().digest, dict(n.status().vv)) for n in nodes]
    return all(s == states[0] for s in states)


def wait_converged(nodes: list[NodeProc], timeout: float = 30) -> None:
    def missing() -> str:
        return "convergence: " + "; ".join(
            f"{n.name} digest={n.status().digest[:8]} vv={dict(n.status().vv)}" for n in nodes
        )

    wait_for(lambda: converged(nodes), timeout, missing)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
