"""Proving the cluster token without sending it: the challenge both ends speak.

A bearer token sent to whatever answers a node's port is a gift to whoever binds that port
while the node is down (any local user can bind a port above 1024). So neither a node
dialling a peer nor the cluster tool sends the token: they ask the node to prove it holds
the token first, and then present a proof of their own that only that node process can
check.

1. The caller sends ``client_nonce`` (16 random bytes) to ``Auth.Challenge``.
2. The node answers ``server_nonce`` (16 random bytes and a tag: an HMAC under a secret
   of this process, so any call can be checked later without a table) and
   ``proof = HMAC(token, "server" | cluster | node | client_nonce | server_nonce)``.
3. The caller checks the cluster, the name it expected and the proof, and only then
   presents ``authorization: Proof <server_nonce>.<client_nonce>.<mac>`` with
   ``mac = HMAC(token, "client" | cluster | node | client_nonce | server_nonce)`` on every
   call of its channel.

What a squatter gets: a client nonce (random) and nothing else; it cannot answer the
proof, so the caller stops there. A proof seen on the wire by someone on the path is
good only at the node process that issued its server nonce (a restarted node has a new
process secret): it is a session of that process, not the token. Without TLS a party on
the path can still read and change the traffic it relays; that is what TLS adds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

import grpc

from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

SCHEME = "Proof "
NONCE_BYTES = 16
TAG_BYTES = 16
SERVER_NONCE_BYTES = NONCE_BYTES + TAG_BYTES
MAC_BYTES = 32
_LABEL = b"remesh-auth-v1"


class ChallengeFailed(ValueError):
    """The far end did not prove it holds the token; the message says what it answered."""


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _mac(token: bytes, role: bytes, cluster: str, node: str, cn: bytes, sn: bytes) -> bytes:
    msg = b"\0".join((_LABEL, role, cluster.encode(), node.encode(), cn, sn))
    return hmac.new(token, msg, hashlib.sha256).digest()


def server_proof(token: bytes, cluster: str, node: str, cn: bytes, sn: bytes) -> bytes:
    return _mac(token, b"server", cluster, node, cn, sn)


def client_proof(token: bytes, cluster: str, node: str, cn: bytes, sn: bytes) -> bytes:
    return _mac(token, b"client", cluster, node, cn, sn)


def header(token: bytes, cluster: str, node: str, cn: bytes, sn: bytes) -> str:
    """The ``authorization`` value a caller presents once ``node`` proved itself."""
    mac = client_proof(token, cluster, node, cn, sn)
    return f"{SCHEME}{sn.hex()}.{cn.hex()}.{mac.hex()}"


def check_answer(
    token: bytes,
    cluster: str,
    node: str,
    cn: bytes,
    answer_cluster: str,
    answer_node: str,
    sn: bytes,
    proof: bytes,
) -> None:
    """Raise ``ChallengeFailed`` unless the answer comes from ``node`` of ``cluster``."""
    if (answer_cluster, answer_node) != (cluster, node):
        raise ChallengeFailed(
            f"it answers as node {answer_node!r} of cluster {answer_cluster!r}, "
            f"not {node!r} of {cluster!r}"
        )
    if len(sn) != SERVER_NONCE_BYTES or not hmac.compare_digest(
        proof, server_proof(token, cluster, node, cn, sn)
    ):
        raise ChallengeFailed(
            f"it says it is {node!r} of cluster {cluster!r} but cannot prove it holds the "
            f"token this side holds (a process squatting on the port, a node of another "
            f"cluster, or a token file that is not this cluster's)"
        )


def _answered(
    token: bytes, cluster: str, node: str, cn: bytes, answer: pb.ChallengeResponse
) -> str:
    """The header to present, once ``answer`` is checked; ``cluster`` empty: any cluster
    (the token is per cluster, so proving it is what counts)."""
    cluster = cluster or answer.cluster
    check_answer(
        token, cluster, node, cn, answer.cluster, answer.node_id, answer.server_nonce, answer.proof
    )
    return header(token, cluster, node, cn, answer.server_nonce)


def _unanswered(exc: Any, node: str) -> ChallengeFailed:
    code = exc.code()
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ChallengeFailed(
            "it does not answer Auth.Challenge: not a remesh node of this version, or "
            "one serving without a token"
        )
    return ChallengeFailed(f"asked to prove it is {node!r}: {code.name}: {exc.details()}")


def prove(channel: grpc.Channel, token: bytes, cluster: str, node: str, timeout: float) -> str:
    """Have the node at the far end of ``channel`` prove it is ``node``; the header to
    present from then on. Raises ``ChallengeFailed`` (the token was never sent), or
    ``grpc.RpcError`` when nothing answered."""
    cn = new_nonce()
    try:
        answer = pb_grpc.AuthStub(channel).Challenge(
            pb.ChallengeRequest(client_nonce=cn), timeout=timeout
        )
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        raise _unanswered(exc, node) from None
    return _answered(token, cluster, node, cn, answer)


async def prove_aio(
    channel: grpc.aio.Channel, token: bytes, cluster: str, node: str, timeout: float
) -> str:
    """``prove`` on an asyncio channel."""
    cn = new_nonce()
    try:
        answer = await pb_grpc.AuthStub(channel).Challenge(
            pb.ChallengeRequest(client_nonce=cn), timeout=timeout
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        raise _unanswered(exc, node) from None
    return _answered(token, cluster, node, cn, answer)


@dataclass
class Issuer:
    """A node process's side: issues server nonces and checks presented proofs.

    ``secret`` is random per process (per ``Node.start``), so proofs made for an earlier
    process, or seen by someone on the path, are worth nothing after a restart. Checks
    need no table: the server nonce carries its own tag. Checked headers are remembered
    (at most ``MEMO`` of them) so a long-lived channel costs one dict lookup per call."""

    token: bytes
    cluster: str
    node: str
    secret: bytes = b""
    MEMO = 1024

    def __post_init__(self) -> None:
        self.secret = self.secret or os.urandom(32)
        self._memo: dict[str, None] = {}

    def _tag(self, nonce: bytes) -> bytes:
        return hmac.new(self.secret, nonce, hashlib.sha256).digest()[:TAG_BYTES]

    def challenge(self, cn: bytes) -> tuple[bytes, bytes]:
        """``(server_nonce, proof)`` for a caller's nonce."""
        if len(cn) != NONCE_BYTES:
            raise ChallengeFailed(f"a client nonce is {NONCE_BYTES} bytes, got {len(cn)}")
        nonce = os.urandom(NONCE_BYTES)
        sn = nonce + self._tag(nonce)
        return sn, server_proof(self.token, self.cluster, self.node, cn, sn)

    def problem(self, value: str) -> str | None:
        """Why a ``Proof ...`` header does not authenticate, or None when it does."""
        if value in self._memo:
            return None
        try:
            sn_hex, cn_hex, mac_hex = value[len(SCHEME) :].split(".")
            sn, cn, mac = bytes.fromhex(sn_hex), bytes.fromhex(cn_hex), bytes.fromhex(mac_hex)
        except ValueError:
            return "a malformed proof: expected 'Proof <server_nonce>.<client_nonce>.<mac>' in hex"
        if len(sn) != SERVER_NONCE_BYTES or len(cn) != NONCE_BYTES or len(mac) != MAC_BYTES:
            return "a malformed proof: wrong lengths"
        if not hmac.compare_digest(sn[NONCE_BYTES:], self._tag(sn[:NONCE_BYTES])):
            return (
                "a proof of another node process (this node restarted, or it was made "
                "for another node): challenge again"
            )
        if not hmac.compare_digest(mac, client_proof(self.token, self.cluster, self.node, cn, sn)):
            return f"wrong token for cluster {self.cluster}: use that cluster's secrets/token"
        if len(self._memo) >= self.MEMO:
            self._memo.pop(next(iter(self._memo)))
        self._memo[value] = None
        return None


STALE = "a proof of another node process"  # in the refusal: a caller challenges again
