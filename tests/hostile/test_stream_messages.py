"""Hostile catalogue: replication stream messages, at both ends (node/protocol sessions).

Each case: the message a peer (or anything on its port) sends, the reason a person
sees and its kind (the gRPC status it becomes), and proof nothing changed.
"""

from __future__ import annotations

import pytest

from node.pb import remesh_pb2 as pb
from node.protocol import (
    Identity,
    PeerFailed,
    Refused,
    ServerLimits,
    ServerSession,
    SubscriberSession,
)
from node.protocol.hello import make_hello
from node.protocol.validate import MAX_ORIGINS

pytestmark = pytest.mark.unit

A = Identity("node-a", "c1", "t1", "node-a@0123456789aa")
B = Identity("node-b", "c1", "t1", "node-b@0123456789bb")
LIMITS = ServerLimits(max_batch_entries=3, max_batch_bytes=1 << 20, heartbeat_s=1, timeout_s=2)
MANY = {f"n{i}@0123456789ab": 1 for i in range(MAX_ORIGINS + 1)}


def hello(vv=None, exclude=(), **change) -> pb.SubscriberMessage:
    msg = make_hello(B, vv or {}, list(exclude))
    for field, value in change.items():
        setattr(msg.hello, field, value)
    return msg


HELLOS = [
    ("no message in time", None, "invalid", "must start with Hello"),
    ("ack first", pb.SubscriberMessage(ack=pb.Ack()), "invalid", "must start with Hello, got ack"),
    ("empty message", pb.SubscriberMessage(), "invalid", "got an empty message"),
    ("protocol 9", hello(protocol=9), "precondition", "protocol 9 not supported"),
    ("bad node id", hello(node_id="Bad/Name"), "invalid", "bad node id"),
    ("node id of 300 chars", hello(node_id="n" * 300), "invalid", "bad node id"),
    ("itself", hello(node_id="node-a", replica_id=""), "precondition", "connected to itself"),
    ("other cluster", hello(cluster="other"), "precondition", "in cluster 'other'"),
    ("other tenant", hello(tenant="t2"), "permission", "tenant 't2'"),
    ("bad replica id", hello(replica_id="node-b@zz"), "invalid", "bad replica id"),
    (
        "another node's replica id",
        hello(replica_id="node-c@0123456789ab"),
        "invalid",
        "bad replica",
    ),
    ("vv of 4097 origins", hello(vv=MANY), "invalid", "Hello vv of 4097 origins"),
    ("vv with a bad origin", hello(vv={"../x": 1}), "invalid", "bad origin '../x'"),
    ("exclude with a bad origin", hello(exclude=["a/b"]), "invalid", "bad origin 'a/b'"),
]


@pytest.mark.parametrize(("case", "msg", "kind", "text"), HELLOS, ids=[h[0] for h in HELLOS])
def test_server_refuses_a_bad_hello(case, msg, kind, text):
    s = ServerSession(A, LIMITS)
    with pytest.raises(Refused, match=text) as err:
        s.on_hello(msg, {}, 0.0)
    assert err.value.kind == kind
    assert s.peer == "" and s.entries_sent == 0 and s.cursor.pos == {}


AFTER_HELLO = [
    ("a second Hello", hello(), "unexpected hello message after Hello"),
    ("empty message", pb.SubscriberMessage(), "unexpected empty message"),
    ("Ack naming 4097 origins", pb.SubscriberMessage(ack=pb.Ack(vv=MANY)), "4097 origins"),
    ("Ack with a bad origin", pb.SubscriberMessage(ack=pb.Ack(vv={"x\0": 1})), "bad origin"),
    ("Want with a bad origin", pb.SubscriberMessage(want=pb.Want(exclude=["UP"])), "bad origin"),
    (
        "Ack with a bad durable origin",
        pb.SubscriberMessage(ack=pb.Ack(durable={"../x": 1})),
        "bad origin",
    ),
    (
        "Ack durable of 4097 origins",
        pb.SubscriberMessage(ack=pb.Ack(vv={"node-a@0123456789aa": 2}, durable=MANY)),
        "durable vv of 4097 origins",
    ),
    (
        "Ack with a bad member name",
        pb.SubscriberMessage(ack=pb.Ack(vv={"node-a@0123456789aa": 2}, members=["a/b"])),
        "bad origin 'a/b'",
    ),
    (
        "Want of 4097 origins",
        pb.SubscriberMessage(want=pb.Want(exclude=list(MANY))),
        "4097 origins",
    ),
]


@pytest.mark.parametrize(("case", "msg", "text"), AFTER_HELLO, ids=[m[0] for m in AFTER_HELLO])
def test_server_refuses_a_bad_message_after_hello(case, msg, text):
    s = ServerSession(A, LIMITS)
    s.on_hello(hello(vv={"node-a@0123456789aa": 1}), {"node-a@0123456789aa": 3}, 0.0)
    def seen():
        c = s.cursor
        return (dict(c.pos), dict(c.acked), set(c.exclude), s.last_heard, s.durable, s.clock)

    before = seen()
    with pytest.raises(Refused, match=text):
        s.on_message(msg, 5.0)
    assert seen() == before


WELCOMES = [
    ("a heartbeat first", pb.ServerMessage(heartbeat=pb.Heartbeat()), "expected Welcome, got"),
    ("an empty message", pb.ServerMessage(), "expected Welcome, got None"),
    ("another node", pb.ServerMessage(welcome=pb.Welcome(node_id="node-x")), "not 'node-a'"),
    (
        "a bad replica id",
        pb.ServerMessage(welcome=pb.Welcome(node_id="node-a", replica_id="node-a@../")),
        "bad replica id",
    ),
    (
        "another node's replica id",
        pb.ServerMessage(welcome=pb.Welcome(node_id="node-a", replica_id="node-c@0123456789ab")),
        "bad replica id",
    ),
]


@pytest.mark.parametrize(("case", "msg", "text"), WELCOMES, ids=[w[0] for w in WELCOMES])
def test_subscriber_refuses_a_bad_welcome(case, msg, text):
    sub = SubscriberSession(B, "node-a", "127.0.0.1:9", timeout_s=2)
    sub.hello({}, [])
    with pytest.raises(PeerFailed, match=text):
        sub.on_welcome(msg, {}, 0.0)
    assert not sub.welcomed and sub.last_heard == 0.0


def test_subscriber_refuses_a_welcome_vouching_for_more_origins_than_a_vv_may_name():
    """A member with valid credentials that announces an oversized vouched map is refused
    before anything of it is kept (the vv bound, docs/bounds.md)."""
    sub = SubscriberSession(B, "node-a", "127.0.0.1:9", timeout_s=2)
    sub.hello({}, [])
    welcome = pb.ServerMessage(welcome=pb.Welcome(node_id="node-a", vouched=MANY))
    with pytest.raises(Refused, match="Welcome's vouched vv of 4097 origins; the limit is 4096"):
        sub.on_welcome(welcome, {}, 0.0)
    assert not sub.welcomed and sub.last_heard == 0.0


@pytest.mark.parametrize(
    "msg",
    [pb.ServerMessage(batch=pb.Batch()), pb.ServerMessage(heartbeat=pb.Heartbeat())],
    ids=["batch", "heartbeat"],
)
def test_subscriber_refuses_anything_before_welcome(msg):
    sub = SubscriberSession(B, "node-a", "addr", timeout_s=2)
    with pytest.raises(PeerFailed, match="unexpected"):
        sub.on_message(msg, 0.0)
