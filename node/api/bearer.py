"""The token's wire form, shared by the node and the cluster tool: one header, one scheme.

A call presents the cluster token as ``authorization: Bearer <token>`` metadata. A token
is printable ASCII without spaces (a gRPC metadata value) and long enough that guessing
it is hopeless; ``cluster up`` makes one of 64 hex digits.
"""

from __future__ import annotations

HEADER = "authorization"
SCHEME = "Bearer "
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 1024


class TokenError(ValueError):
    """A token that cannot be used; the message says where it came from and what to fix."""


def check_token(token: str, where: str = "token") -> str:
    """``token`` if it is usable as a gRPC metadata value and long enough to guess at."""
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise TokenError(
            f"{where}: expected {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} characters, "
            f"got {len(token)}"
        )
    if not all(33 <= ord(c) < 127 for c in token):
        raise TokenError(f"{where}: expected printable ASCII without spaces")
    return token


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that presents ``token``."""
    return ((HEADER, SCHEME + token),)
