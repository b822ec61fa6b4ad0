"""The link fault proxy as a real process on loopback, in front of a threaded echo server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.faults.config import ProxyConfig
from cluster.faults.control import ProxyControl
from cluster.faults.model import ProxyError
from cluster.ports import free_ports
from cluster.wait import wait_for as shared_wait_for

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
AB, BA = "node-a>node-b", "node-b>node-a"


def wait_for(cond: Callable[[], object], timeout: float = 10.0, msg: str = "condition") -> None:
    shared_wait_for(cond, timeout, msg)


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        self.accepted = 0
        super().__init__(("127.0.0.1", 0), EchoHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.accepted += 1  # type: ignore[attr-defined]
        try:
            while data := self.request.recv(1 << 18):
                self.request.sendall(data)
        except OSError:
            pass


class ProxyProcess:
    def __init__(self, tmp: Path, echo: str) -> None:
        self.echo = echo
        self.faults_file = tmp / "faults.json"
        self.config_path = tmp / "proxy.json"
        self.log_path = tmp / "proxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.allocate()

    def allocate(self) -> None:
        """Pick free ports and write the config (again, if another process took one)."""
        control, ab, ba = free_ports(3)  # distinct, and out of connect()'s range
        self.control = f"127.0.0.1:{control}"
        self.listen = {AB: f"127.0.0.1:{ab}", BA: f"127.0.0.1:{ba}"}
        links = [{"name": n, "listen": a, "target": self.echo} for n, a in self.listen.items()]
        raw = {"control": self.control, "faults_file": str(self.faults_file), "links": links}
        ProxyConfig.from_dict(raw).write(self.config_path)
        self.ctl = ProxyControl(self.control, timeout=5.0)

    def start(self, attempts: int = 1) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "cluster.faults.proxy", "--config", str(self.config_path)]
        for attempt in range(attempts):
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [*cmd, "--log-level", "DEBUG"], cwd=REPO, env=env, stderr=log
                )
            proc = self.proc
            wait_for(lambda p=proc: self.ctl.ping() or p.poll() is not None, msg="proxy up")
            if proc.poll() is None:
                return
            # bind-0-then-close ports can be taken by a parallel test before the proxy binds
            if "address already in use" in self.log_path.read_text() and attempt + 1 < attempts:
                self.allocate()
                continue
            raise AssertionError(f"proxy exited {proc.returncode}:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def connect(self, link: str = AB) -> socket.socket:
        host, port = self.listen[link].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=5.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(tmp_path: Path, echo: EchoServer) -> Iterator[ProxyProcess]:
    p = ProxyProcess(tmp_path, echo.address)
    try:
        p.start(attempts=5)
        yield p
    finally:
        p.kill()
        print(p.log_path.read_text() if p.log_path.exists() else "(no proxy log)")


def roundtrip(sock: socket.socket, data: bytes = b"hello") -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def silent(sock: socket.socket, window: float = 0.3) -> bool:
    """True when nothing arrives within ``window`` and the connection stays open."""
    sock.settimeout(window)
    try:
        sock.recv(1)  # data or EOF: not silent
        return False
    except TimeoutError:
        return True
    finally:
        sock.settimeout(5.0)


def closed(sock: socket.socket) -> bool:
    """True once the peer closed or reset the connection (nonblocking check)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def was_reset(sock: socket.socket) -> bool:
    sock.settimeout(5.0)
    try:
        sock.sendall(b"x")
        sock.recv(1)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def new_connection_is_reset(proxy: ProxyProcess) -> bool:
    """A reset-mode link accepts and resets at once: on a loaded machine the RST can
    land before connect() returns, which is the same reset seen one step earlier."""
    try:
        sock = proxy.connect()
    except ConnectionResetError:
        return True
    with sock:
        return was_reset(sock)


def test_ok_forwards_bytes_and_counts(proxy: ProxyProcess) -> None:
    with proxy.connect() as sock:
        assert roundtrip(sock, b"hello") == b"hello"
        stats = proxy.ctl.get()
        assert stats["faults"] == {}
        assert stats["links"][AB] == {"connections": 1, "bytes_forwarded": 10}
        assert stats["links"][BA] == {"connections": 0, "bytes_forwarded": 0}
    wait_for(lambda: proxy.ctl.get()["links"][AB]["connections"] == 0, msg="connection gone")


def test_ok_carries_megabytes_with_backpressure(proxy: ProxyProcess) -> None:
    payload = os.urandom(16 * 1024 * 1024)
    with proxy.connect() as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        digest, received = hashlib.sha256(), 0
        while received < len(payload):
            chunk = sock.recv(1 << 18)
            assert chunk, "connection closed early"
            digest.update(chunk)
            received += len(chunk)
        sender.join(timeout=10)
    assert received == len(payload)
    assert digest.digest() == hashlib.sha256(payload).digest()


def test_blackhole_is_silent_and_heal_drops_held_connections(
    proxy: ProxyProcess, echo: EchoServer
) -> None:
    old = proxy.connect()
    other = proxy.connect(BA)
    assert roundtrip(old) == b"hello"
    assert roundtrip(other) == b"hello"
    accepted = echo.accepted

    reply = proxy.ctl.set_faults({AB: {"mode": "blackhole"}})
    assert reply["faults"] == {AB: {"mode": "blackhole", "delay_ms": 0}}
    old.sendall(b"lost")
    assert silent(old), "existing connection must neither answer nor close"
    new = proxy.connect()  # accepted: a partition is silent, not refused
    new.sendall(b"lost too")
    assert silent(new)
    assert echo.accepted == accepted, "a blackholed connection must not reach the target"
    assert roundtrip(other) == b"hello", "other links are unaffected"
    assert proxy.ctl.get()["links"][AB]["connections"] == 2

    proxy.ctl.heal()
    wait_for(lambda: closed(old), msg="held connection to be closed on heal")
    wait_for(lambda: closed(new), msg="connection opened during blackhole to be closed")
    assert proxy.ctl.get()["faults"] == {}
    with proxy.connect() as fresh:
        assert roundtrip(fresh) == b"hello"
    assert roundtrip(other) == b"hello"
    for sock in (old, new, other):
        sock.close()


def test_reset_resets_existing_and_new_connections(proxy: ProxyProcess) -> None:
    with proxy.connect() as old:
        assert roundtrip(old) == b"hello"
        proxy.ctl.set_faults({AB: {"mode": "reset"}})
        assert was_reset(old)
    assert new_connection_is_reset(proxy)
    proxy.ctl.set_faults({AB: {"mode": "ok"}})
    with proxy.connect() as fresh:
        assert roundtrip(fresh) == b"hello"


def test_delay_holds_each_chunk_and_keeps_order(proxy: ProxyProcess) -> None:
    proxy.ctl.set_faults({AB: {"delay_ms": 200}})
    assert proxy.ctl.get()["faults"] == {AB: {"mode": "ok", "delay_ms": 200}}
    with proxy.connect() as sock:
        start = time.monotonic()
        assert roundtrip(sock, b"ping") == b"ping"
        assert time.monotonic() - start >= 0.35  # 200 ms each way
        parts = [bytes([i]) * 1000 for i in range(50)]
        for part in parts:
            sock.sendall(part)
        got = b""
        while len(got) < 50_000 and (chunk := sock.recv(65536)):
            got += chunk
        assert got == b"".join(parts)


def test_faults_survive_a_restart(proxy: ProxyProcess) -> None:
    proxy.ctl.set_faults({AB: {"mode": "blackhole"}, BA: {"mode": "ok", "delay_ms": 30}})
    expected = {AB: {"mode": "blackhole", "delay_ms": 0}, BA: {"mode": "ok", "delay_ms": 30}}
    assert json.loads(proxy.faults_file.read_text()) == {"faults": expected}
    proxy.kill()
    assert not proxy.ctl.ping()
    proxy.start()
    assert proxy.ctl.get()["faults"] == expected
    with proxy.connect() as sock:
        sock.sendall(b"x")
        assert silent(sock)
    proxy.ctl.heal()
    assert json.loads(proxy.faults_file.read_text()) == {"faults": {}}


@pytest.mark.parametrize(
    "faults, error",
    [
        ({AB: {"mode": "blackhole"}, "x>y": {"mode": "reset"}}, "unknown link 'x>y'; known: "),
        ({AB: {"mode": "reset"}, BA: {"mode": "partition"}}, "mode: expected one of ok"),
        ({AB: {"delay_ms": -1}}, "delay_ms: expected an integer"),
        ({AB: {"delay_ms": True}}, "delay_ms: expected an integer"),
        ({AB: {"mode": "reset", "loss": 0.5}}, "keys mode and/or delay_ms"),
        ({AB: "blackhole"}, "keys mode and/or delay_ms"),
        ([AB], "faults: expected an object"),
    ],
)
def test_bad_set_changes_nothing(proxy: ProxyProcess, faults: object, error: str) -> None:
    proxy.ctl.set_faults({BA: {"delay_ms": 10}})
    before = proxy.ctl.get()["faults"]
    with pytest.raises(ProxyError, match=re.escape(error)):
        proxy.ctl.set_faults(faults)  # type: ignore[arg-type]
    assert proxy.ctl.get()["faults"] == before
    assert json.loads(proxy.faults_file.read_text()) == {"faults": before}


def test_raw_control_protocol(proxy: ProxyProcess) -> None:
    host, port = proxy.control.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b'not json\n{"op": "explode"}\n[1]\n{"op": "ping"}\n{"op": "get"}\n')
        reader = sock.makefile("rb")
        answers = [json.loads(reader.readline()) for _ in range(5)]
    assert answers[0]["ok"] is False and "not JSON" in answers[0]["error"]
    assert answers[1] == {
        "ok": False,
        "error": "unknown op 'explode'; expected one of get, set, heal, ping, reload",
    }
    assert answers[2]["ok"] is False
    assert answers[3] == {"ok": True}
    assert answers[4]["ok"] is True and set(answers[4]["links"]) == {AB, BA}


def test_client_says_what_to_do_when_proxy_is_down() -> None:
    ctl = ProxyControl(f"127.0.0.1:{free_ports(1)[0]}", timeout=1.0)
    assert ctl.ping() is False
    with pytest.raises(ProxyError, match="is not answering.*is the cluster up"):
        ctl.get()


def test_sigterm_exits_zero_promptly(proxy: ProxyProcess) -> None:
    proxy.ctl.set_faults({AB: {"mode": "blackhole"}})
    held = proxy.connect()  # a held connection must not delay shutdown
    wait_for(lambda: proxy.ctl.get()["links"][AB]["connections"] == 1, msg="held connection")
    assert proxy.proc is not None
    proxy.proc.send_signal(signal.SIGTERM)
    assert proxy.proc.wait(timeout=5) == 0
    wait_for(lambda: closed(held), msg="held connection closed by shutdown")
    held.close()
    log = proxy.log_path.read_text()
    assert "INFO proxy: started" in log and "INFO proxy: stopping" in log


def test_bad_config_exits_2_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "proxy.json"
    config.write_text(json.dumps({"control": "127.0.0.1:1", "faults_file": "f", "links": [{}]}))
    result = subprocess.run(
        [sys.executable, "-m", "cluster.faults.proxy", "--config", str(config)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{config}: links[0]: expected an object with exactly name, listen, target" in (
        result.stderr
    )


def test_reload_opens_new_links_closes_gone_ones_and_keeps_the_rest(proxy: ProxyProcess) -> None:
    """``cluster add``/``remove`` reshape a running proxy: AB stays (with its fault and its
    connection), BA goes (its connection reset), a new link starts ok."""
    proxy.ctl.set_faults({AB: {"delay_ms": 5}})
    kept = proxy.connect(AB)
    assert roundtrip(kept) == b"hello"
    dropped = proxy.connect(BA)
    assert roundtrip(dropped) == b"hello"
    (port,) = free_ports(1)
    ac = "node-a>node-c"
    raw = json.loads(proxy.config_path.read_text())
    raw["links"] = [lk for lk in raw["links"] if lk["name"] != BA]
    raw["links"].append({"name": ac, "listen": f"127.0.0.1:{port}", "target": proxy.echo})
    proxy.config_path.write_text(json.dumps(raw))
    reply = proxy.ctl.reload()
    assert reply["added"] == [ac] and reply["removed"] == [BA]
    assert set(reply["links"]) == {AB, ac} and reply["faults"] == {
        AB: {"mode": "ok", "delay_ms": 5}
    }
    assert roundtrip(kept) == b"hello", "a kept link's connection survives a reload"
    assert was_reset(dropped)
    proxy.listen[ac] = f"127.0.0.1:{port}"
    with proxy.connect(ac) as sock:
        assert roundtrip(sock) == b"hello"
    kept.close()

    raw["control"] = "127.0.0.1:1"
    proxy.config_path.write_text(json.dumps(raw))
    with pytest.raises(ProxyError, match="control address cannot change"):
        proxy.ctl.reload()
    proxy.config_path.write_text("{broken")
    with pytest.raises(ProxyError, match="nothing changed"):
        proxy.ctl.reload()
    assert set(proxy.ctl.get()["links"]) == {AB, ac}


def test_chunks_sent_after_a_delay_ends_never_overtake_those_still_held(
    proxy: ProxyProcess,
) -> None:
    """The relay writes a chunk at once when nothing is queued ahead of it; chunks still
    held by an old delay are ahead of it, so the stream must stay in order."""
    proxy.ctl.set_faults({AB: {"delay_ms": 300}})
    with proxy.connect() as sock:
        assert roundtrip(sock, b"ping") == b"ping"
        held = [bytes([i]) * 1000 for i in range(1, 21)]
        for part in held:
            sock.sendall(part)
        proxy.ctl.set_faults({AB: {"delay_ms": 0}})  # while those are held
        after = [bytes([100 + i]) * 1000 for i in range(20)]
        for part in after:
            sock.sendall(part)
        want = b"".join(held + after)
        got = b""
        while len(got) < len(want) and (chunk := sock.recv(65536)):
            got += chunk
        assert got == want
