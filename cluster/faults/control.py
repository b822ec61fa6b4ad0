"""The client of a running link proxy's control port (JSON lines, one request a connection)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from cluster.faults.auth import OPEN_OPS, check_proxy, sign
from cluster.faults.config import split_address
from cluster.faults.model import FaultRequest, ProxyError, ProxyUnreachable
from node.api.challenge import new_nonce


class ProxyControl:
    """Synchronous client of a running proxy's control API (one connection per request)."""

    def __init__(self, address: str, timeout: float = 5.0, token: str | None = None) -> None:
        self.address = address
        self._token = token  # proved on every request (cluster.faults.auth), never sent
        self.timeout = timeout
        self._host, self._port = split_address(address)

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request; ProxyError when unreachable or the answer is ``ok: false``."""
        try:
            with socket.create_connection((self._host, self._port), timeout=self.timeout) as sock:
                lines = sock.makefile("rb")
                if self._token and req.get("op") not in OPEN_OPS:
                    token, cn = self._token.encode(), new_nonce()
                    answer = self._exchange(sock, lines, {"op": "challenge", "nonce": cn.hex()})
                    sn = check_proxy(token, cn, answer, self.address)
                    req = sign(token, cn, sn, req)
                resp = self._exchange(sock, lines, req)
        except OSError as e:
            raise ProxyUnreachable(
                f"link proxy at {self.address} is not answering ({e}): is the cluster up?"
            ) from None
        if not isinstance(resp, dict) or resp.get("ok") is not True:
            error = resp.get("error") if isinstance(resp, dict) else resp
            raise ProxyError(f"link proxy at {self.address}: {error}")
        return resp

    def _exchange(self, sock: socket.socket, lines: Any, req: dict[str, Any]) -> Any:
        """Send one JSON line, read one back."""
        sock.sendall(json.dumps(req).encode() + b"\n")
        buf = lines.readline(1 << 20)
        if not buf:  # accepted, then closed unanswered: a container's published port whose
            # process is not listening yet (it is restarting) answers so
            raise ConnectionResetError("the connection closed without an answer")
        try:
            return json.loads(buf)
        except ValueError:
            raise ProxyError(
                f"link proxy at {self.address} gave no valid answer ({bytes(buf[:200])!r}): "
                "is something else listening there?"
            ) from None

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


RESTARTING = ("RUNNING", "STARTING", "BACKOFF")  # its backend is bringing it back


class SupervisedControl(ProxyControl):
    """The control port of a proxy its backend restarts when it dies: a request that finds
    nothing listening waits (up to ``patience`` s) while the backend brings it back, since
    it reads its faults back from ``faults.json`` at start; otherwise the error names the
    process, its state and what to do. ``state`` reads the proxy process's state."""

    def __init__(
        self, address: str, token: str | None, state: Callable[[], str], patience: float = 15.0
    ) -> None:
        super().__init__(address, token=token)
        self._state = state
        self._patience = patience

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self._patience
        while True:
            try:
                return super().request(req)
            except ProxyUnreachable:
                state = self._state()
                if state not in RESTARTING or time.monotonic() >= deadline:
                    raise ProxyUnreachable(
                        f"the link proxy (process 'proxy', {state}) is not answering at "
                        f"{self.address}, so no link forwards: `cluster logs proxy` says why, "
                        "`cluster start proxy` starts it (its faults come back from faults.json)"
                    ) from None
                time.sleep(0.1)  # polling a process that restarts, within the deadline

    def ping(self) -> bool:
        """One try, no waiting: for callers that poll."""
        try:
            return ProxyControl.request(self, {"op": "ping"})["ok"] is True
        except ProxyError:
            return False
