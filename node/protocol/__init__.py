"""The replication protocol, pure: both ends of a stream as state machines, and what a
batch does to a replica. ``node/api/service.py`` and ``node/replication/outbound.py``
pump these over gRPC; the property tests pump them over an in-memory network."""

from node.protocol.apply import (
    CommitPlan,
    Head,
    Triage,
    conflict,
    key_hash,
    plan_commit,
    triage,
    wins,
)
from node.protocol.cursor import Cursor, exclusions
from node.protocol.errors import Held, PeerFailed, ProtocolError, Refused
from node.protocol.hello import PROTOCOL, Identity
from node.protocol.server import ServerLimits, ServerSession
from node.protocol.subscriber import Received, SubscriberSession

__all__ = [
    "PROTOCOL",
    "CommitPlan",
    "Cursor",
    "Head",
    "Held",
    "Identity",
    "PeerFailed",
    "ProtocolError",
    "Received",
    "Refused",
    "ServerLimits",
    "ServerSession",
    "SubscriberSession",
    "Triage",
    "conflict",
    "exclusions",
    "key_hash",
    "plan_commit",
    "triage",
    "wins",
]
