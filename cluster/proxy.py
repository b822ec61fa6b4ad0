"""Link fault proxy: one process relays every directed link of a cluster and injects faults.

Node ``src`` reaches peer ``dst`` through this proxy's listen port for link ``src>dst``, so a
partition is a proxy setting and nodes need no knowledge of faults. Per link the fault is a
mode (``ok``, ``blackhole``: silent like a real partition, ``reset``: RST) plus an optional
``delay_ms``. Faults are set over a JSON-lines control port and persisted to a file, so they
survive a proxy restart. Standard library only: it runs under supervisord next to the nodes.

Run: ``python -m cluster.proxy --config proxy.json``; drive it with :class:`ProxyControl`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("ok", "blackhole", "reset")
CHUNK = 256 * 1024  # read size: large, so the proxy is never the replication bottleneck
CHANNEL_BYTES = 4 * 1024 * 1024  # per direction in flight: bounds memory, pushes back
MAX_DELAY_MS = 600_000
LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN

log = logging.getLogger("remesh.proxy")


class ProxyError(Exception):
    """A proxy problem a person can act on; the message says what to do."""


# --- addresses, link names, config -------------------------------------------------------


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) -> (host, port); ValueError says what was expected."""
    host, sep, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected an address 'host:port' with port 1-65535, got {address!r}")
    return host.strip("[]"), int(port)


def link_name(src: str, dst: str) -> str:
    """The name of the directed link on which node ``src`` subscribes to node ``dst``."""
    return f"{src}>{dst}"


def split_link(name: str) -> tuple[str, str]:
    """``'src>dst'`` -> (src, dst)."""
    parts = name.split(">") if isinstance(name, str) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"expected a link name 'src>dst', got {name!r}")
    return parts[0], parts[1]


@dataclass(frozen=True)
class LinkSpec:
    """One directed link: the proxy listens on ``listen`` and forwards to ``target``."""

    name: str
    listen: str
    target: str


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy process config, a JSON file the cluster tool renders."""

    control: str
    faults_file: Path
    links: tuple[LinkSpec, ...]

    @classmethod
    def from_dict(cls, raw: Any, source: str = "proxy config") -> ProxyConfig:
        def bad(where: str, expected: str, got: Any) -> ProxyError:
            return ProxyError(f"{source}: {where}: expected {expected}, got {got!r}")

        if not isinstance(raw, dict):
            raise bad("top level", "an object with control, faults_file, links", raw)
        for key in ("control", "faults_file"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise bad(key, "a string", raw.get(key))
        try:
            split_address(raw["control"])
        except ValueError as e:
            raise ProxyError(f"{source}: control: {e}") from None
        if not isinstance(raw.get("links"), list):
            raise bad("links", "a list of {name, listen, target}", raw.get("links"))
        links: list[LinkSpec] = []
        seen: set[str] = {raw["control"]}
        for i, item in enumerate(raw["links"]):
            where = f"links[{i}]"
            if not isinstance(item, dict) or set(item) != {"name", "listen", "target"}:
                raise bad(where, "an object with exactly name, listen, target", item)
            try:
                split_link(item["name"])
                split_address(item["listen"])
                split_address(item["target"])
            except ValueError as e:
                raise ProxyError(f"{source}: {where}: {e}") from None
            if any(link.name == item["name"] for link in links):
                raise bad(f"{where}.name", "a link name not used before", item["name"])
            if item["listen"] in seen:
                raise bad(f"{where}.listen", "an address not used before", item["listen"])
            seen.add(item["listen"])
            links.append(LinkSpec(item["name"], item["listen"], item["target"]))
        return cls(raw["control"], Path(raw["faults_file"]), tuple(links))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProxyConfig:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ProxyError(f"cannot read proxy config {path}: {e}") from None
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "faults_file": str(self.faults_file),
            "links": [{"name": s.name, "listen": s.listen, "target": s.target} for s in self.links],
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` whole or not at all: a crash never leaves a torn file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One link's fault; the default (ok, no delay) is a healthy link."""

    mode: str = "ok"
    delay_ms: int = 0

    @property
    def is_ok(self) -> bool:
        return self.mode == "ok" and self.delay_ms == 0

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_ms": self.delay_ms}

    def merged(self, name: str, raw: Any) -> Fault:
        """This fault with ``raw``'s keys applied; ProxyError names the link and field."""
        if not isinstance(raw, dict) or not set(raw) <= {"mode", "delay_ms"}:
            raise ProxyError(
                f"link {name!r}: expected an object with keys mode and/or delay_ms, got {raw!r}"
            )
        mode = raw.get("mode", self.mode)
        delay = raw.get("delay_ms", self.delay_ms)
        if mode not in MODES:
            raise ProxyError(
                f"link {name!r}: mode: expected one of {', '.join(MODES)}, got {mode!r}"
            )
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_MS:
            raise ProxyError(
                f"link {name!r}: delay_ms: expected an integer 0-{MAX_DELAY_MS}, got {delay!r}"
            )
        return Fault(mode, delay)


def parse_faults(raw: Any, current: Mapping[str, Fault]) -> dict[str, Fault]:
    """Validate a whole ``set`` request against the known links before anything changes."""
    if not isinstance(raw, dict):
        raise ProxyError(f"faults: expected an object {{link: {{mode, delay_ms}}}}, got {raw!r}")
    out: dict[str, Fault] = {}
    for name, spec in raw.items():
        if name not in current:
            known = ", ".join(sorted(current)) or "(none)"
            raise ProxyError(f"unknown link {name!r}; known: {known}")
        out[name] = current[name].merged(name, spec)
    return out


def load_faults(path: Path, links: Iterable[str]) -> dict[str, Fault]:
    """Faults saved by an earlier run; a missing file means all ok, a bad one is a warning."""
    faults = {name: Fault() for name in links}
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return faults
    except (OSError, ValueError) as e:
        log.warning("faults file %s unreadable (%s): starting with every link ok", path, e)
        return faults
    saved = raw.get("faults") if isinstance(raw, dict) else None
    if not isinstance(saved, dict):
        log.warning("faults file %s has no 'faults' object: starting with every link ok", path)
        return faults
    for name, spec in saved.items():
        if name not in faults:
            log.warning("faults file %s: link %r is not in the config: ignored", path, name)
            continue
        try:
            faults[name] = Fault().merged(name, spec)
        except ProxyError as e:
            log.warning("faults file %s: %s: link left ok", path, e)
    return faults


def save_faults(path: Path, faults: Mapping[str, Fault]) -> None:
    active = {name: f.to_dict() for name, f in sorted(faults.items()) if not f.is_ok}
    atomic_write(path, json.dumps({"faults": active}, indent=2) + "\n")


def partition_faults(
    groups: list[list[str]], links: Iterable[str], mode: str = "blackhole"
) -> dict[str, dict[str, Any]]:
    """Faults cutting every link whose ends are in different groups; ungrouped nodes untouched."""
    if mode not in ("blackhole", "reset"):
        raise ValueError(f"partition mode: expected blackhole or reset, got {mode!r}")
    side: dict[str, int] = {}
    for i, group in enumerate(groups):
        for node in group:
            if side.setdefault(node, i) != i:
                raise ValueError(f"node {node!r} is in more than one partition group")
    out: dict[str, dict[str, Any]] = {}
    for name in links:
        src, dst = split_link(name)
        if src in side and dst in side and side[src] != side[dst]:
            out[name] = {"mode": mode}
    return out


def isolate_faults(node: str, links: Iterable[str], mode: str = "blackhole") -> dict[str, dict]:
    """Faults cutting every link from or to ``node``."""
    if mode not in ("blackhole", "reset"):
        raise ValueError(f"isolate mode: expected blackhole or reset, got {mode!r}")
    return {name: {"mode": mode} for name in links if node in split_link(name)}


# --- the proxy ---------------------------------------------------------------------------


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST so the endpoint sees a reset now, not a FIN or a timeout later."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
    writer.transport.abort()


class _Channel:
    """FIFO of (due time, chunk) between a reader and a writer task, bounded by bytes.

    Chunks are due at read time + delay, so a delay holds each chunk just that long,
    keeps order, and the byte bound turns a slow or delayed side into backpressure.
    """

    def __init__(self) -> None:
        self.items: deque[tuple[float, bytes] | None] = deque()
        self.size = 0
        self.ready = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()

    async def put(self, item: tuple[float, bytes] | None) -> None:
        while self.size >= CHANNEL_BYTES:
            self.space.clear()
            await self.space.wait()
        self.items.append(item)
        self.size += len(item[1]) if item else 0
        self.ready.set()

    async def get(self) -> tuple[float, bytes] | None:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        item = self.items.popleft()
        self.size -= len(item[1]) if item else 0
        if self.size < CHANNEL_BYTES:
            self.space.set()
        return item


class _Link:
    """Runtime state of one directed link: its fault, open connections, counters."""

    def __init__(self, spec: LinkSpec, fault: Fault) -> None:
        self.spec = spec
        self.fault = fault
        self.conns: set[_Conn] = set()
        self.bytes_forwarded = 0
        self.flowing = asyncio.Event()  # cleared during blackhole: pumps stop reading/writing
        if fault.mode != "blackhole":
            self.flowing.set()

    def apply(self, fault: Fault) -> None:
        old, self.fault = self.fault, fault
        # Connections held through a blackhole are dropped on leaving it, so endpoints
        # reconnect fresh instead of resuming a stream with a hole in it.
        if fault.mode == "reset" or (old.mode == "blackhole" and fault.mode != "blackhole"):
            for conn in list(self.conns):
                conn.abort()
        if fault.mode == "blackhole":
            self.flowing.clear()
        else:
            self.flowing.set()


class _Conn:
    """One client connection on a link and its upstream, pumped by four tasks."""

    def __init__(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.link = link
        self.client_reader = reader
        self.client = writer
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.eofs = 0
        self.closed = False
        self.finished = asyncio.Event()

    async def run(self) -> None:
        link = self.link
        peer = self.client.get_extra_info("peername")
        link.conns.add(self)
        log.debug("link %s: connection from %s (%s)", link.spec.name, peer, link.fault.mode)
        try:
            if link.fault.mode == "reset":
                self.abort()
            elif link.fault.mode == "ok":
                await self._connect()
            # blackhole: accepted, never connected upstream, never answered: held until
            # the blackhole ends (then aborted) or the proxy stops.
            await self.finished.wait()
        finally:
            link.conns.discard(self)
            self.abort()
            log.debug("link %s: connection from %s closed", link.spec.name, peer)

    async def _connect(self) -> None:
        host, port = split_address(self.link.spec.target)
        try:
            up_reader, up = await asyncio.open_connection(host, port, limit=CHUNK)
        except OSError as e:
            log.debug("link %s: upstream %s: %s", self.link.spec.name, self.link.spec.target, e)
            self.abort()
            return
        if self.closed:  # reset or healed while connecting
            _reset(up)
            return
        self.upstream = up
        for reader, writer in ((self.client_reader, up), (up_reader, self.client)):
            channel = _Channel()
            self.tasks.append(asyncio.create_task(self._guard(self._read(reader, channel))))
            self.tasks.append(asyncio.create_task(self._guard(self._write(channel, writer))))

    async def _guard(self, pump: Any) -> None:
        try:
            await pump
        except OSError:  # a reset on one side resets the other
            self.abort()
        except Exception:
            log.exception("link %s: pump failed", self.link.spec.name)
            self.abort()

    async def _read(self, reader: asyncio.StreamReader, channel: _Channel) -> None:
        while True:
            await self.link.flowing.wait()
            data = await reader.read(CHUNK)
            if not data:
                await channel.put(None)
                return
            await channel.put((time.monotonic() + self.link.fault.delay_ms / 1000, data))

    async def _write(self, channel: _Channel, writer: asyncio.StreamWriter) -> None:
        while (item := await channel.get()) is not None:
            due, data = item
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await self.link.flowing.wait()
            writer.write(data)
            self.link.bytes_forwarded += len(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        self.eofs += 1
        if self.eofs == 2:  # both sides finished cleanly: close quietly
            self.closed = True
            for w in (self.client, self.upstream):
                if w is not None:
                    w.close()
            self.finished.set()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        self.finished.set()


class Proxy:
    """Every link's listener plus the control server, in one asyncio loop."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        faults = load_faults(config.faults_file, (s.name for s in config.links))
        self.links = {s.name: _Link(s, faults[s.name]) for s in config.links}
        self.servers: list[asyncio.Server] = []

    async def start(self) -> None:
        # Links first, control last: a control answer means every link is listening.
        for link in self.links.values():
            await self._listen(
                link.spec.listen,
                lambda r, w, link=link: _Conn(link, r, w).run(),
                f"link {link.spec.name}",
            )
            log.info(
                "link %s: %s -> %s (%s, delay %d ms)",
                link.spec.name,
                link.spec.listen,
                link.spec.target,
                link.fault.mode,
                link.fault.delay_ms,
            )
        await self._listen(self.config.control, self._control, "control")
        log.info("started: control on %s, %d links", self.config.control, len(self.links))

    async def _listen(self, address: str, handler: Any, what: str) -> None:
        host, port = split_address(address)
        try:
            server = await asyncio.start_server(handler, host, port, limit=CHUNK)
        except OSError as e:
            raise ProxyError(f"cannot listen on {address} for {what}: {e}") from None
        self.servers.append(server)

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for link in self.links.values():
            for conn in list(link.conns):
                conn.abort()
        for server in self.servers:  # bounded: from 3.12 this also waits for idle clients
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    # control API

    def snapshot(self) -> dict[str, Any]:
        return {
            "faults": {n: lk.fault.to_dict() for n, lk in self.links.items() if not lk.fault.is_ok},
            "links": {
                n: {"connections": len(lk.conns), "bytes_forwarded": lk.bytes_forwarded}
                for n, lk in self.links.items()
            },
        }

    def handle(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except ValueError as e:
            return {"ok": False, "error": f"request is not JSON ({e}); send one object per line"}
        op = req.get("op") if isinstance(req, dict) else None
        if op == "ping":
            return {"ok": True}
        if op == "get":
            return {"ok": True, **self.snapshot()}
        if op == "heal":
            return self.update({name: Fault() for name in self.links})
        if op == "set":
            try:
                faults = parse_faults(
                    req.get("faults"), {n: lk.fault for n, lk in self.links.items()}
                )
            except ProxyError as e:
                return {"ok": False, "error": str(e)}
            return self.update(faults)
        return {"ok": False, "error": f"unknown op {op!r}; expected one of get, set, heal, ping"}

    def update(self, faults: Mapping[str, Fault]) -> dict[str, Any]:
        """Persist first, then apply: a failed write leaves the running faults unchanged."""
        merged = {n: lk.fault for n, lk in self.links.items()} | dict(faults)
        try:
            save_faults(self.config.faults_file, merged)
        except OSError as e:
            return {"ok": False, "error": f"cannot write faults file: {e}; nothing changed"}
        for name, fault in faults.items():
            link = self.links[name]
            if fault != link.fault:
                log.info(
                    "link %s: %s, delay %d ms (was %s, delay %d ms)",
                    name,
                    fault.mode,
                    fault.delay_ms,
                    link.fault.mode,
                    link.fault.delay_ms,
                )
                link.apply(fault)
        return {"ok": True, **self.snapshot()}

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self.handle(line)).encode() + b"\n")
                await writer.drain()
        except (OSError, ValueError) as e:  # ValueError: a line over the read limit
            log.debug("control connection: %s", e)
        finally:
            writer.close()


async def serve(config: ProxyConfig) -> None:
    """Run until SIGTERM or SIGINT, then close every connection."""
    proxy = Proxy(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await proxy.start()
        await stop.wait()
        log.info("stopping")
    finally:
        await proxy.close()


# --- control client ----------------------------------------------------------------------


class ProxyControl:
    """Synchronous client of a running proxy's control API (one connection per request)."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self._host, self._port = split_address(address)

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request; ProxyError when unreachable or the answer is ``ok: false``."""
        buf = bytearray()
        try:
            with socket.create_connection((self._host, self._port), timeout=self.timeout) as sock:
                sock.sendall(json.dumps(req).encode() + b"\n")
                while not buf.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
        except OSError as e:
            raise ProxyError(
                f"link proxy at {self.address} is not answering ({e}): is the cluster up?"
            ) from None
        try:
            resp = json.loads(buf)
        except ValueError:
            raise ProxyError(
                f"link proxy at {self.address} gave no valid answer ({bytes(buf[:200])!r}): "
                "is something else listening there?"
            ) from None
        if not isinstance(resp, dict) or resp.get("ok") is not True:
            error = resp.get("error") if isinstance(resp, dict) else resp
            raise ProxyError(f"link proxy at {self.address}: {error}")
        return resp

    def ping(self) -> bool:
        """True when the proxy answers; False (no exception) when it does not, for polling."""
        try:
            return self.request({"op": "ping"})["ok"] is True
        except ProxyError:
            return False

    def get(self) -> dict[str, Any]:
        return self.request({"op": "get"})

    def set_faults(self, faults: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return self.request({"op": "set", "faults": faults})

    def heal(self) -> dict[str, Any]:
        return self.request({"op": "heal"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.proxy", description=__doc__)
    parser.add_argument("--config", required=True, help="proxy JSON config file")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level,
        format="%(asctime)s %(levelname)s proxy: %(message)s",
    )
    logging.getLogger("asyncio").setLevel(logging.WARNING)  # not its selector chatter
    try:
        config = ProxyConfig.load(args.config)
    except ProxyError as e:
        log.error("%s", e)
        return 2
    try:
        asyncio.run(serve(config))
    except ProxyError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
