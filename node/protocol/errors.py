"""Why a replication stream ends, in two types: which end is at fault decides what
a person must fix. ``node.api.statuses.status_of`` is the one place these become gRPC
status codes.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "precondition", "permission", "unavailable", "exhausted"]


class ProtocolError(Exception):
    """A replication stream cannot go on; the message says why, for a person."""

    kind: Kind = "unavailable"
    reason = ""  # for a rejected batch: its ``remesh_rejected_total`` reason

    def __init__(self, message: str, kind: Kind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class Refused(ProtocolError):
    """This node refuses what the other end sent (a bad Hello, an unexpected message).

    Local verdict on remote input: the stream is closed with the reason, and
    nothing the message asked for was done.
    """

    kind: Kind = "invalid"


class PeerFailed(ProtocolError):
    """The other end refused us, went silent, or is not the node we expected.

    The link records the reason (``last_error`` in status) and reconnects.
    """


class Held(PeerFailed):
    """What the other end sent cannot be applied yet (its entries are dated too far ahead
    of this node's clock): nothing of the batch is applied, the link waits and retries,
    and the entries stay in their origin's log, so nothing is lost."""
