"""The largest gRPC messages a node sends and accepts, from what they really carry.

gRPC reads a whole message into memory before the handler sees it, so the message
limit is what one stream can make the node hold at once. It was 256 MiB for every
message; it is now what the largest legitimate message needs:

- to and from peers: a Batch (``RECEIVED_BATCH_BYTES`` of keys and values, as the
  sender counts them, plus framing per entry) or a snapshot chunk (smaller:
  ``node.replication.snapshots``), plus one record of the largest key and value (a batch or chunk
  closes after the record that passes its budget; a larger entry travels alone);
- from clients: a ``PutBatch`` of ``max(MAX_REQUEST_BYTES, max_value + max_key)``, plus
  framing per write.
"""

from __future__ import annotations

from node.config import NodeConfig
from node.protocol.validate import RECEIVED_ENTRIES_FLOOR
from node.replica import MAX_REQUEST_BYTES

BATCH_BYTES = 1 << 20  # keys and values (and ENTRY_OVERHEAD each) a node puts in a batch
RECEIVED_BATCH_BYTES = 4 << 20  # what it accepts (earlier versions sent this much)
ENTRY_FRAMING = 160  # protobuf bytes of an Entry beyond key and value, at most (long origin)
WRITE_FRAMING = 16  # of a Write in a PutBatch
SLACK = 256 << 10  # the message's other fields: a vv of 4,096 origins, say


def peer_message(cfg: NodeConfig) -> int:
    """The largest ServerMessage a peer may send: a full batch and one more record."""
    entries = max(cfg.max_batch_entries, RECEIVED_ENTRIES_FLOOR)
    one = cfg.max_key_bytes + cfg.max_value_bytes + ENTRY_FRAMING
    return RECEIVED_BATCH_BYTES + entries * ENTRY_FRAMING + one + SLACK


def client_message(cfg: NodeConfig) -> int:
    """The largest request a client may send: a PutBatch at its limits (``Replica``)."""
    request = max(MAX_REQUEST_BYTES, cfg.max_value_bytes + cfg.max_key_bytes)
    return request + cfg.max_batch_entries * WRITE_FRAMING + SLACK


def server_limits(cfg: NodeConfig) -> list[tuple[str, int]]:
    """The node's server: accepts requests (and a subscriber's Acks, far smaller), sends
    batches, snapshot chunks, Scan pages and Watch messages (each at most a peer's)."""
    return [
        ("grpc.max_receive_message_length", client_message(cfg)),
        ("grpc.max_send_message_length", peer_message(cfg)),
    ]


def channel_limits(cfg: NodeConfig) -> list[tuple[str, int]]:
    """A node's link to a peer: sends Hello, Acks and Wants, accepts a peer's messages."""
    return [
        ("grpc.max_receive_message_length", peer_message(cfg)),
        ("grpc.max_send_message_length", client_message(cfg)),
    ]
