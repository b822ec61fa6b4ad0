"""The link proxy's control port: which requests need the token, and what a refusal says."""

from __future__ import annotations

import pytest

from cluster.faults.auth import read_token, refusal
from cluster.faults.model import ProxyError

pytestmark = pytest.mark.unit

TOKEN = b"c" * 64


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"op": "set", "faults": {}}, "unauthenticated: no token"),
        ({"op": "heal", "token": "d" * 64}, "unauthenticated: wrong token"),
        ({"op": "get", "token": "c" * 63}, "unauthenticated: wrong token"),
        ({"op": "reload", "token": 42}, "unauthenticated: no token"),
        ({"op": "nonsense"}, "unauthenticated: no token"),  # unknown ops too
    ],
)
def test_requests_without_the_token_are_refused(request_, error) -> None:
    reply = refusal(request_, TOKEN)
    assert reply is not None and reply["ok"] is False and error in reply["error"]
    assert TOKEN.decode() not in reply["error"]


@pytest.mark.parametrize(
    "request_",
    [{"op": "ping"}, {"op": "set", "token": "c" * 64}, "not an object", None],
)
def test_ping_the_right_token_and_non_requests_go_on(request_) -> None:
    # a non-object is answered by the proxy's own parser ("send one object per line")
    assert refusal(request_, TOKEN) is None


def test_without_a_token_file_nothing_is_checked() -> None:
    assert refusal({"op": "set"}, None) is None


def test_an_unreadable_or_empty_token_file_stops_the_proxy(tmp_path) -> None:
    with pytest.raises(ProxyError, match="cannot read the control token"):
        read_token(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ProxyError, match="empty or too long"):
        read_token(tmp_path / "empty")
    (tmp_path / "ok").write_text("c" * 64 + "\n")
    assert read_token(tmp_path / "ok") == TOKEN
