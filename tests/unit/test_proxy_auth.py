"""The link proxy's control port: which requests need the token, and what a refusal says."""

from __future__ import annotations

import pytest

from cluster.faults.auth import answer_challenge, check_proxy, read_token, refusal, sign
from cluster.faults.model import ProxyError
from node.api.challenge import new_nonce

pytestmark = pytest.mark.unit

TOKEN = b"c" * 64


def challenged(token: bytes = TOKEN) -> tuple[bytes, bytes]:
    """A connection's nonces, after the proxy answered its challenge."""
    cn = new_nonce()
    answer, cn2, sn = answer_challenge({"op": "challenge", "nonce": cn.hex()}, TOKEN)
    assert answer["ok"] and cn2 == cn
    assert check_proxy(token, cn, answer, "127.0.0.1:1") == sn  # the proxy proved itself
    return cn, sn


SET = {"op": "set", "faults": {"node-a>node-b": {"mode": "blackhole"}}}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda n: (SET, None), "ask for a challenge first"),
        (lambda n: (SET, n), "ask for a challenge first"),  # no proof
        (lambda n: ({**SET, "token": TOKEN.decode()}, n), "ask for a challenge first"),  # old
        (lambda n: (sign(b"d" * 64, *n, SET), n), "wrong token"),
        (lambda n: ({**sign(TOKEN, *n, SET), "faults": {}}, n), "wrong token"),  # altered
        (lambda n: (sign(TOKEN, *n, SET), challenged()), "wrong token"),  # other connection
        (lambda n: ({**sign(TOKEN, *n, SET), "proof": 42}, n), "ask for a challenge first"),
        (lambda n: ({"op": "nonsense"}, n), "ask for a challenge first"),  # unknown ops too
    ],
)
def test_requests_without_a_good_proof_are_refused(make, error) -> None:
    request_, nonces = make(challenged())
    reply = refusal(request_, TOKEN, nonces)
    assert reply is not None and reply["ok"] is False and error in reply["error"]
    assert TOKEN.decode() not in reply["error"]


@pytest.mark.parametrize("request_", [{"op": "ping"}, "not an object", None])
def test_ping_and_non_requests_go_on(request_) -> None:
    # a non-object is answered by the proxy's own parser ("send one object per line")
    assert refusal(request_, TOKEN, None) is None


def test_a_signed_request_goes_on_and_never_carries_the_token() -> None:
    nonces = challenged()
    signed = sign(TOKEN, *nonces, SET)
    assert refusal(signed, TOKEN, nonces) is None
    assert TOKEN.decode() not in str(signed)


def test_a_squatter_that_cannot_prove_the_token_gets_no_request() -> None:
    cn = new_nonce()
    fake, _, _ = answer_challenge({"op": "challenge", "nonce": cn.hex()}, b"s" * 64)
    for answer in (fake, {"ok": True}, {"ok": True, "nonce": "zz", "proof": "00"}, "HTTP/1.1"):
        with pytest.raises(ProxyError, match="is not this cluster's link proxy"):
            check_proxy(TOKEN, cn, answer, "127.0.0.1:1")


@pytest.mark.parametrize("nonce", ["", "00", "zz" * 16, None, 5])
def test_a_bad_challenge_nonce_is_refused(nonce) -> None:
    answer, _, _ = answer_challenge({"op": "challenge", "nonce": nonce}, TOKEN)
    assert answer["ok"] is False and "16 bytes" in answer["error"]


def test_without_a_token_file_nothing_is_checked() -> None:
    assert refusal({"op": "set"}, None, None) is None


def test_an_unreadable_or_empty_token_file_stops_the_proxy(tmp_path) -> None:
    with pytest.raises(ProxyError, match="cannot read the control token"):
        read_token(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ProxyError, match="empty or too long"):
        read_token(tmp_path / "empty")
    (tmp_path / "ok").write_text("c" * 64 + "\n")
    assert read_token(tmp_path / "ok") == TOKEN
