"""Link fault proxy: one process relays every directed link of a cluster and injects faults.

Node ``src`` reaches peer ``dst`` through this proxy's listen port for link ``src>dst``, so a
partition is a proxy setting and nodes need no knowledge of faults. Per link the fault is a
mode (``ok``, ``blackhole``: silent like a real partition, ``reset``: RST) plus an optional
``delay_ms``. Faults are set over a JSON-lines control port and persisted to a file, so they
survive a proxy restart. Every control op but ``ping`` carries the cluster token
(``cluster.faults.auth``). The ``reload`` control op re-reads the config file: links added
since start begin listening (ok), links gone stop (their connections reset), the others and
their faults are untouched, so ``cluster add``/``remove`` reshape a running cluster. Standard
library only: it runs as one more process beside the nodes.

Run: ``python -m cluster.faults.proxy --config proxy.json``; drive it with
:class:`cluster.faults.control.ProxyControl`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from cluster.faults.auth import answer_challenge, read_token, refusal
from cluster.faults.config import (
    LinkSpec,
    ProxyConfig,
    load_faults,
    save_faults,
    split_address,
)
from cluster.faults.model import Fault, ProxyError, parse_faults

CHUNK = 256 * 1024  # read size: large, so the proxy is never the replication bottleneck
CHANNEL_BYTES = 4 * 1024 * 1024  # per direction in flight: bounds memory, pushes back
LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN

log = logging.getLogger("remesh.proxy")


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
        self.holding = False  # the writer took an item and has not written it yet
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
            self.tasks.append(asyncio.create_task(self._guard(self._read(reader, channel, writer))))
            self.tasks.append(asyncio.create_task(self._guard(self._write(channel, writer))))

    async def _guard(self, pump: Any) -> None:
        try:
            await pump
        except OSError:  # a reset on one side resets the other
            self.abort()
        except Exception:
            log.exception("link %s: pump failed", self.link.spec.name)
            self.abort()

    async def _read(
        self, reader: asyncio.StreamReader, channel: _Channel, writer: asyncio.StreamWriter
    ) -> None:
        link = self.link
        while True:
            await link.flowing.wait()
            data = await reader.read(CHUNK)
            if not data:
                await channel.put(None)
                return
            delay = link.fault.delay_ms
            if not delay and link.flowing.is_set() and not channel.items and not channel.holding:
                # Nothing ahead of this chunk and nothing to hold it for: write it now,
                # without a hop through the writer task (the relay's per-chunk cost).
                await self._send(writer, data)
                continue
            await channel.put((time.monotonic() + delay / 1000, data))

    async def _write(self, channel: _Channel, writer: asyncio.StreamWriter) -> None:
        while (item := await channel.get()) is not None:
            channel.holding = True  # the reader must not write past this chunk
            due, data = item
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await self.link.flowing.wait()
            channel.holding = False  # written below, before any await: order holds
            await self._send(writer, data)
        if writer.can_write_eof():
            writer.write_eof()
        self.eofs += 1
        if self.eofs == 2:  # both sides finished cleanly: close quietly
            self.closed = True
            for w in (self.client, self.upstream):
                if w is not None:
                    w.close()
            self.finished.set()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.link.bytes_forwarded += len(data)
        await writer.drain()

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

    def __init__(self, config: ProxyConfig, path: str | None = None) -> None:
        self.config = config
        self.path = path  # where ``reload`` re-reads the config
        faults = load_faults(config.faults_file, (s.name for s in config.links))
        self.links = {s.name: _Link(s, faults[s.name]) for s in config.links}
        self.servers: dict[str, asyncio.Server] = {}  # link name (or "control") -> listener
        self.token = read_token(config.token_file) if config.token_file else None

    async def start(self) -> None:
        # Links first, control last: a control answer means every link is listening.
        for link in self.links.values():
            await self._open(link)
        await self._listen(self.config.control, self._control, "control")
        log.info("started: control on %s, %d links", self.config.control, len(self.links))

    async def _open(self, link: _Link) -> None:
        await self._listen(
            link.spec.listen,
            lambda r, w, link=link: _Conn(link, r, w).run(),
            link.spec.name,
        )
        log.info(
            "link %s: %s -> %s (%s, delay %d ms)",
            link.spec.name,
            link.spec.listen,
            link.spec.target,
            link.fault.mode,
            link.fault.delay_ms,
        )

    async def _listen(self, address: str, handler: Any, what: str) -> None:
        host, port = split_address(address)
        try:
            server = await asyncio.start_server(handler, host, port, limit=CHUNK)
        except OSError as e:
            where = what if what == "control" else f"link {what}"
            raise ProxyError(f"cannot listen on {address} for {where}: {e}") from None
        self.servers[what] = server

    async def _shut(self, names: list[str]) -> None:
        servers = [self.servers.pop(n) for n in names if n in self.servers]
        for server in servers:
            server.close()
        for name in names:
            for conn in list(self.links[name].conns) if name in self.links else ():
                conn.abort()
        for server in servers:  # bounded: from 3.12 this also waits for idle clients
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def close(self) -> None:
        await self._shut(list(self.servers))

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file: open new links, close links gone; others untouched."""
        if self.path is None:
            return {"ok": False, "error": "this proxy was started without a config file"}
        try:
            config = ProxyConfig.load(self.path)
        except ProxyError as e:
            return {"ok": False, "error": f"{e}; nothing changed"}
        if config.control != self.config.control:
            return {"ok": False, "error": "the control address cannot change; restart the proxy"}
        specs = {s.name: s for s in config.links}
        gone = [n for n, lk in self.links.items() if specs.get(n) != lk.spec]
        new = [n for n, s in specs.items() if n not in self.links or n in gone]
        await self._shut(gone)
        for name in gone:
            del self.links[name]
        self.config = config
        try:
            for name in new:
                self.links[name] = _Link(specs[name], Fault())
                await self._open(self.links[name])
        except ProxyError as e:
            return {"ok": False, "error": str(e)}
        faults = {n: lk.fault for n, lk in self.links.items()}
        try:
            save_faults(config.faults_file, faults)
        except OSError as e:
            log.warning("cannot write faults file after reload: %s", e)
        log.info("reloaded %s: %d links added, %d removed", self.path, len(new), len(gone))
        return {"ok": True, "added": sorted(new), "removed": sorted(gone), **self.snapshot()}

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
        return {
            "ok": False,
            "error": f"unknown op {op!r}; expected one of get, set, heal, ping, reload",
        }

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
        nonces: tuple[bytes, bytes] | None = None  # this connection's challenge
        try:
            while line := await reader.readline():
                request = _request(line)
                reply: dict[str, Any] | None
                if self.token is not None and _op(line) == "challenge":
                    reply, cn, sn = answer_challenge(request, self.token)
                    nonces = (cn, sn) if reply["ok"] else None
                else:
                    reply = refusal(request, self.token, nonces)
                if reply is None:
                    reply = await self.reload() if _op(line) == "reload" else self.handle(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (OSError, ValueError) as e:  # ValueError: a line over the read limit
            log.debug("control connection: %s", e)
        finally:
            writer.close()


def _request(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _op(line: bytes) -> Any:
    req = _request(line)
    return req.get("op") if isinstance(req, dict) else None


async def serve(config: ProxyConfig, path: str | None = None) -> None:
    """Run until SIGTERM or SIGINT, then close every connection."""
    proxy = Proxy(config, path)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.faults.proxy", description=__doc__)
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
        asyncio.run(serve(config, args.config))
    except ProxyError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
