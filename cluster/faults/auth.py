"""The control port's proof: every request but ``ping`` proves the cluster's token.

Without it anyone on the machine could cut, delay or heal a cluster's links. A TCP port
(not a 0600 unix socket) because the proxy may run where a socket file is awkward to
share (a container backend), with the token nodes already take. The token itself never
crosses the port, since whatever answers there may be a squatter on a stopped proxy's
port: on one connection the tool sends ``{"op": "challenge", "nonce": ...}``, the proxy
answers a nonce of its own and a proof that it holds the token (``node.api.challenge``), and
only then does the tool send its request with a proof bound to both nonces and to the
request's own bytes, which is worth nothing for any other request or connection.
``ping`` stays open so readiness polling needs nothing and reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cluster.faults.model import ProxyError
from node.api.challenge import NONCE_BYTES, client_proof, new_nonce, server_proof

OPEN_OPS = frozenset({"ping"})
MAX_TOKEN_BYTES = 4096
ROLE = ("proxy-control", "proxy")  # the names the proofs are bound to


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


def request_digest(request: dict[str, Any]) -> bytes:
    """What a request's proof covers: the request without its proof, canonically."""
    body = {k: v for k, v in request.items() if k != "proof"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()


def sign(token: bytes, cn: bytes, sn: bytes, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` with the tool's proof for this connection's nonces."""
    proof = client_proof(token, *ROLE, cn, sn + request_digest(request))
    return {**request, "proof": proof.hex()}


def answer_challenge(request: Any, token: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """The proxy's answer to ``challenge`` and the connection's nonces ``(cn, sn)``."""
    try:
        cn = bytes.fromhex(request.get("nonce", ""))
    except (TypeError, ValueError):
        cn = b""
    if len(cn) != NONCE_BYTES:
        return {"ok": False, "error": f"a challenge nonce is {NONCE_BYTES} bytes in hex"}, b"", b""
    sn = new_nonce()
    proof = server_proof(token, *ROLE, cn, sn)
    return {"ok": True, "nonce": sn.hex(), "proof": proof.hex()}, cn, sn


def check_proxy(token: bytes, cn: bytes, answer: Any, address: str) -> bytes:
    """The proxy's nonce once its answer proves it holds the token; else ProxyError."""
    try:
        sn = bytes.fromhex(answer["nonce"])
        proof = bytes.fromhex(answer["proof"])
    except (KeyError, TypeError, ValueError):
        proof, sn = b"", b""
    if not sn or not hmac.compare_digest(proof, server_proof(token, *ROLE, cn, sn)):
        raise ProxyError(
            f"what answers at {address} is not this cluster's link proxy: it cannot prove "
            f"it holds the cluster's token ({str(answer)[:120]}). Nothing secret was sent "
            f"to it: is another program on that port? `cluster status` shows the proxy"
        )
    return sn


def refusal(
    request: Any, token: bytes | None, nonces: tuple[bytes, bytes] | None
) -> dict[str, Any] | None:
    """The answer to a request without a good proof, or None when it may go on."""
    if token is None or not isinstance(request, dict) or request.get("op") in OPEN_OPS:
        return None
    presented = request.get("proof")
    if nonces is None or not isinstance(presented, str):
        return {
            "ok": False,
            "error": "unauthenticated: ask for a challenge first on this connection and "
            "send the request with its proof (cluster.faults.auth)",
        }
    cn, sn = nonces
    wanted = client_proof(token, *ROLE, cn, sn + request_digest(request))
    if not hmac.compare_digest(presented.encode("ascii", "replace"), wanted.hex().encode()):
        return {"ok": False, "error": "unauthenticated: wrong token for this cluster's proxy"}
    return None
