"""The client of a running link proxy's control port (JSON lines, one request a connection)."""

from __future__ import annotations

import json
import socket
from typing import Any

from cluster.faults.config import split_address
from cluster.faults.model import FaultRequest, ProxyError


class ProxyControl:
    """Synchronous client of a running proxy's control API (one connection per request)."""

    def __init__(self, address: str, timeout: float = 5.0, token: str | None = None) -> None:
        self.address = address
        self._token = token  # sent with every request (cluster.faults.auth); never logged
        self.timeout = timeout
        self._host, self._port = split_address(address)

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request; ProxyError when unreachable or the answer is ``ok: false``."""
        buf = bytearray()
        try:
            with socket.create_connection((self._host, self._port), timeout=self.timeout) as sock:
                sent = {**req, "token": self._token} if self._token else req
                sock.sendall(json.dumps(sent).encode() + b"\n")
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

    def set_faults(self, faults: FaultRequest) -> dict[str, Any]:
        return self.request({"op": "set", "faults": faults})

    def heal(self) -> dict[str, Any]:
        return self.request({"op": "heal"})

    def reload(self) -> dict[str, Any]:
        """Re-read the proxy's config file: links added start, links gone stop."""
        return self.request({"op": "reload"})
