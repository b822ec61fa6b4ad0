"""The token's challenge-response (node/api/challenge.py): what each side can and cannot do.

A caller goes on only after the far end proved it holds the token as the node it expected;
what it then presents is good only at the node process that issued it, and never
contains the token.
"""

from __future__ import annotations

import pytest

from node.api.auth import TokenAuth
from node.api.challenge import (
    STALE,
    ChallengeFailed,
    Issuer,
    check_answer,
    header,
    new_nonce,
    server_proof,
)

pytestmark = pytest.mark.unit

TOKEN = b"t" * 64


def handshake(issuer: Issuer, token: bytes = TOKEN, expect: str = "node-a") -> str:
    cn = new_nonce()
    sn, proof = issuer.challenge(cn)
    check_answer(token, "demo", expect, cn, issuer.cluster, issuer.node, sn, proof)
    return header(token, "demo", expect, cn, sn)


def test_a_caller_that_checked_the_proof_is_accepted_and_the_token_is_not_in_its_header():
    issuer = Issuer(TOKEN, "demo", "node-a")
    value = handshake(issuer)
    assert issuer.problem(value) is None
    assert issuer.problem(value) is None  # again, from the memo
    assert TOKEN.decode() not in value and TOKEN.hex() not in value


def test_a_squatter_without_the_token_cannot_answer_the_challenge():
    squatter = Issuer(b"s" * 64, "demo", "node-a")  # says the right names, wrong token
    with pytest.raises(ChallengeFailed, match="cannot prove it holds the token this side holds"):
        handshake(squatter)


@pytest.mark.parametrize(
    ("cluster", "node", "text"),
    [
        ("demo", "node-c", "answers as node 'node-c' of cluster 'demo', not 'node-a' of 'demo'"),
        ("other", "node-a", "of cluster 'other', not 'node-a' of 'demo'"),
    ],
)
def test_a_real_node_answering_for_another_is_refused(cluster, node, text):
    """A squatter relaying the challenge to another node of the cluster gets that node's
    name in the proof, which the caller refuses."""
    relayed = Issuer(TOKEN, cluster, node)
    cn = new_nonce()
    sn, proof = relayed.challenge(cn)
    with pytest.raises(ChallengeFailed, match=text):
        check_answer(TOKEN, "demo", "node-a", cn, cluster, node, sn, proof)


def test_a_proof_is_worth_nothing_at_another_process_of_the_same_node():
    first = Issuer(TOKEN, "demo", "node-a")
    value = handshake(first)
    restarted = Issuer(TOKEN, "demo", "node-a")
    problem = restarted.problem(value)
    assert problem is not None and STALE in problem


def test_a_proof_made_with_another_token_is_refused_without_echoing_anything():
    issuer = Issuer(TOKEN, "demo", "node-a")
    cn = new_nonce()
    sn, _ = issuer.challenge(cn)
    forged = header(b"w" * 64, "demo", "node-a", cn, sn)
    problem = issuer.problem(forged)
    assert problem is not None and "wrong token" in problem
    assert TOKEN.decode() not in problem


@pytest.mark.parametrize(
    "value",
    ["Proof ", "Proof zz.yy.xx", "Proof " + "00" * 32 + "." + "00" * 16, "Proof " + "a.b.c.d"],
)
def test_malformed_proofs_are_refused(value):
    assert "malformed proof" in (Issuer(TOKEN, "demo", "node-a").problem(value) or "")


def test_the_server_proof_binds_both_nonces_and_the_names():
    cn, sn = new_nonce(), new_nonce() * 2
    base = server_proof(TOKEN, "demo", "node-a", cn, sn)
    assert base != server_proof(TOKEN, "demo", "node-b", cn, sn)
    assert base != server_proof(TOKEN, "other", "node-a", cn, sn)
    assert base != server_proof(TOKEN, "demo", "node-a", new_nonce(), sn)
    assert base != server_proof(TOKEN, "demo", "node-a", cn, new_nonce() * 2)


def test_a_client_nonce_of_the_wrong_size_is_refused():
    with pytest.raises(ChallengeFailed, match="16 bytes"):
        Issuer(TOKEN, "demo", "node-a").challenge(b"short")


def test_the_interceptor_takes_proofs_and_forgets_them_when_the_node_starts_again():
    auth = TokenAuth(TOKEN.decode(), "demo", "node-a")
    value = handshake(auth.issuer)
    assert auth.problem((("authorization", value),)) is None
    auth.renew()  # Node.start: a new process secret
    problem = auth.problem((("authorization", value),))
    assert problem is not None and STALE in problem


def test_the_memo_of_checked_proofs_is_bounded():
    issuer = Issuer(TOKEN, "demo", "node-a")
    for _ in range(Issuer.MEMO + 50):
        assert issuer.problem(handshake(issuer)) is None
    assert len(issuer._memo) == Issuer.MEMO
