"""The authentication table covers every method the node serves, and nothing else.

A method added to remesh.proto fails here until ``node.api.auth.METHODS`` says whether it
needs the token (and until it does, the interceptor asks for the token: fail closed).
"""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from node.api.auth import METHODS, TokenAuth, requires_token
from node.api.bearer import TokenError, bearer, check_token
from node.pb import remesh_pb2 as pb

pytestmark = pytest.mark.unit

TOKEN = "t" * 32


def served(descriptor) -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in descriptor.services_by_name.values()
        for method in service.methods
    }


CHALLENGE = "/remesh.v1.Auth/Challenge"  # how a caller gets to prove it holds the token


def test_every_remesh_method_needs_the_token() -> None:
    remesh = served(pb.DESCRIPTOR)
    assert remesh  # the proto has services at all
    assert {m for m, auth in METHODS.items() if auth} == remesh - {CHALLENGE}


def test_only_health_reflection_and_the_challenge_are_open() -> None:
    open_ = served(health_pb2.DESCRIPTOR) | served(reflection_pb2.DESCRIPTOR) | {CHALLENGE}
    assert {m for m, auth in METHODS.items() if not auth} == open_


def test_a_method_missing_from_the_table_needs_the_token() -> None:
    assert requires_token("/remesh.v1.KV/PutMany")
    assert requires_token("/remesh.v2.Admin/Wipe")
    assert not requires_token("/grpc.health.v1.Health/Check")


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ((), "no token: cluster demo needs"),
        ((("authorization", "Bearer " + "x" * 32),), "wrong token for cluster demo"),
        ((("authorization", "Bearer " + TOKEN[:-1]),), "wrong token"),  # a prefix
        ((("authorization", "Bearer " + TOKEN + "t"),), "wrong token"),  # longer
        ((("authorization", "bearer " + TOKEN),), "wrong token"),  # scheme is exact
        ((("authorization", TOKEN),), "wrong token"),  # no scheme
        ((("authorization", "Bearer " + TOKEN), ("authorization", "Bearer x")), "wrong token"),
        ((("x-token", TOKEN),), "no token"),
        ((("authorization", "Bearer " + TOKEN),), None),
    ],
)
def test_the_interceptor_accepts_only_the_exact_token(metadata, problem) -> None:
    found = TokenAuth(TOKEN, "demo", "node-a").problem(metadata)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert TOKEN not in found  # a refusal never echoes the secret


def test_bearer_metadata_is_what_the_interceptor_accepts() -> None:
    assert TokenAuth(TOKEN, "demo", "node-a").problem(bearer(TOKEN)) is None


@pytest.mark.parametrize(
    ("token", "problem"),
    [("short", "expected 16 to 1024 characters, got 5"), ("a" * 20 + " b", "printable ASCII")],
)
def test_a_weak_or_unsendable_token_is_refused(token, problem) -> None:
    with pytest.raises(TokenError, match=problem):
        check_token(token)
    with pytest.raises(TokenError):
        TokenAuth(token, "demo", "node-a")
