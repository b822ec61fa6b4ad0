"""The control port's token: every request but ``ping`` carries the cluster's token.

Without it anyone on the machine could cut, delay or heal a cluster's links. A TCP port
with a token (not a 0600 unix socket) because the proxy may run where a socket file is
awkward to share (a container backend) and the token is the secret nodes already take;
``ping`` stays open so readiness polling needs nothing and reveals nothing.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from cluster.faults.model import ProxyError

OPEN_OPS = frozenset({"ping"})
MAX_TOKEN_BYTES = 4096


def read_token(path: Path) -> bytes:
    """The token in ``path``; ProxyError names the file when it cannot be read."""
    try:
        with open(path, "rb") as f:
            token = f.read(MAX_TOKEN_BYTES + 1).strip()
    except OSError as e:
        raise ProxyError(f"cannot read the control token {path}: {e.strerror or e}") from None
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise ProxyError(f"the control token {path} is empty or too long")
    return token


def refusal(request: Any, token: bytes | None) -> dict[str, Any] | None:
    """The answer to a request without the right token, or None when it may go on."""
    if token is None or not isinstance(request, dict) or request.get("op") in OPEN_OPS:
        return None
    presented = request.get("token")
    if not isinstance(presented, str):
        return {
            "ok": False,
            "error": "unauthenticated: no token; send the cluster's token "
            "(its state directory's secrets/token) as \"token\"",
        }
    if not hmac.compare_digest(presented.encode("utf-8", "replace"), token):
        return {"ok": False, "error": "unauthenticated: wrong token for this cluster's proxy"}
    return None
