"""Both ends of a replication stream as pure state machines (node/protocol)."""

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
from node.protocol.server import BUSY_BEATS

pytestmark = pytest.mark.unit

A = Identity("node-a", "c1", "t1")
B = Identity("node-b", "c1", "t1")
LIMITS = ServerLimits(max_batch_entries=3, max_batch_bytes=1 << 20, heartbeat_s=1, timeout_s=2)


def entry(origin: str, seq: int) -> pb.Entry:
    return pb.Entry(origin=origin, seq=seq, hlc=seq, op=pb.PUT, key=b"k%d" % seq, value=b"v")


def log_of(*origins_tops: tuple[str, int]):
    log = {o: [entry(o, s) for s in range(1, top + 1)] for o, top in origins_tops}

    def read(origin: str, first: int, last: int) -> list[pb.Entry]:
        return log[origin][first - 1 : last]

    return {o: top for o, top in origins_tops}, read


def hello_from(me: Identity, vv=None, **change) -> pb.SubscriberMessage:
    msg = make_hello(me, vv or {}, [])
    for field, value in change.items():
        setattr(msg.hello, field, value)
    return msg


def test_server_streams_from_the_cursor_without_echo_and_heartbeats_when_idle():
    have, read = log_of(("node-a", 5), ("node-b", 4))
    s = ServerSession(A, LIMITS)
    welcome = s.on_hello(hello_from(B, {"node-a": 1}), have, 10.0)
    assert welcome.welcome.node_id == "node-a" and dict(welcome.welcome.vv) == have
    first = s.next_batch(have, read, 10.0)
    assert [(e.origin, e.seq) for e in first.batch.entries] == [
        ("node-a", 2),
        ("node-a", 3),
        ("node-a", 4),
    ]
    assert s.full(first)
    second = s.next_batch(have, read, 10.0)
    assert [(e.origin, e.seq) for e in second.batch.entries] == [("node-a", 5)]
    assert s.next_batch(have, read, 10.0) is None  # node-b's own entries never go back
    assert s.tick(10.5, have) is None
    assert s.tick(11.0, have).WhichOneof("msg") == "heartbeat"
    assert s.entries_sent == 4 and s.lag(have) == 4  # nothing acked yet
    assert s.on_message(pb.SubscriberMessage(ack=pb.Ack(vv={"node-a": 5})), 11.0) is False
    assert s.lag(have) == 0


def test_server_takes_want_and_refuses_a_second_hello():
    have, read = log_of(("node-a", 2), ("node-c", 2))
    s = ServerSession(A, LIMITS)
    s.on_hello(hello_from(B), have, 0.0)
    assert s.on_message(pb.SubscriberMessage(want=pb.Want(exclude=["node-c"])), 0.0) is True
    assert {e.origin for e in s.next_batch(have, read, 0.0).batch.entries} == {"node-a"}
    with pytest.raises(Refused, match="unexpected hello message after Hello"):
        s.on_message(hello_from(B), 0.0)


def test_server_closes_a_subscriber_silent_for_twice_the_timeout():
    s = ServerSession(A, LIMITS)
    s.on_hello(hello_from(B), {}, 0.0)
    s.tick(3.9, {})
    with pytest.raises(PeerFailed, match="node-b silent for 4.1s"):
        s.tick(4.1, {})


def test_server_splits_batches_by_bytes():
    have, read = log_of(("node-a", 3))
    s = ServerSession(A, ServerLimits(100, 40, 1, 2))
    s.on_hello(hello_from(B), have, 0.0)
    sizes = []
    while (m := s.next_batch(have, read, 0.0)) is not None:
        sizes.append(len(m.batch.entries))
    assert sizes == [1, 1, 1]


def test_subscriber_checks_it_reached_the_peer_it_dialled():
    sub = SubscriberSession(B, "node-a", "127.0.0.1:1", timeout_s=2)
    hello = sub.hello({"node-b": 3}, ["node-c"])
    assert hello.hello.node_id == "node-b" and list(hello.hello.exclude) == ["node-c"]
    wrong = pb.ServerMessage(welcome=pb.Welcome(node_id="node-x"))
    with pytest.raises(PeerFailed, match="127.0.0.1:1 is node 'node-x', not 'node-a'"):
        sub.on_welcome(wrong, {}, 0.0)
    with pytest.raises(PeerFailed, match="expected Welcome, got heartbeat"):
        sub.on_welcome(pb.ServerMessage(heartbeat=pb.Heartbeat()), {}, 0.0)
    with pytest.raises(PeerFailed, match="unexpected batch"):
        sub.on_message(pb.ServerMessage(batch=pb.Batch()), 0.0)


def test_subscriber_applies_batches_reports_catch_up_and_watches_silence():
    sub = SubscriberSession(B, "node-a", "addr", timeout_s=2)
    welcome = pb.ServerMessage(welcome=pb.Welcome(node_id="node-a", vv={"node-a": 5, "node-b": 9}))
    sub.on_welcome(welcome, {"node-a": 2}, 0.0)
    assert sub.behind == 3  # its own origin is not owed
    got = sub.on_message(pb.ServerMessage(batch=pb.Batch(entries=[entry("node-a", 3)])), 1.0)
    assert [e.seq for e in got.entries] == [3] and not got.caught_up
    assert sub.on_message(pb.ServerMessage(heartbeat=pb.Heartbeat()), 1.5).caught_up
    assert not sub.on_message(pb.ServerMessage(heartbeat=pb.Heartbeat()), 2.0).caught_up
    sub.check_alive(4.0)
    with pytest.raises(PeerFailed, match="no message from node-a in 2.5s"):
        sub.check_alive(4.5)
    with pytest.raises(PeerFailed, match="unexpected welcome"):
        sub.on_message(welcome, 4.5)


def test_subscriber_sends_want_only_when_its_live_links_change():
    sub = SubscriberSession(B, "node-a", "addr", timeout_s=2)
    sub.hello({}, ["node-c"])
    kinds = [m.WhichOneof("msg") for m in sub.outgoing({"node-a": 1}, ["node-c"])]
    assert kinds == ["ack"]
    msgs = sub.outgoing({"node-a": 1}, [])
    assert [m.WhichOneof("msg") for m in msgs] == ["want", "ack"]
    assert list(msgs[0].want.exclude) == [] and dict(msgs[1].ack.vv) == {"node-a": 1}


def test_a_stream_that_never_goes_idle_heartbeats_between_batches_at_what_it_sent():
    """Under constant writes no idle heartbeat goes out and the origin's top runs ahead of
    the subscriber: every BUSY_BEATS intervals a busy Heartbeat carries the chain values
    at what the stream has sent (held by the subscriber, so it can compare), and does not
    tell the subscriber it caught up."""
    have, read = log_of(("node-a", 9))
    s = ServerSession(A, LIMITS)
    s.on_hello(hello_from(B, {"node-a": 1}), have, 10.0)
    s.tick(10.0 + LIMITS.heartbeat_s, have)  # an idle beat: the busy clock starts there
    s.next_batch(have, read, 12.0)  # seqs 2..4 sent
    assert not s.beat_due(11.0 + (BUSY_BEATS - 0.5) * LIMITS.heartbeat_s)
    later = 11.0 + BUSY_BEATS * LIMITS.heartbeat_s
    assert s.beat_due(later)
    chains = {("node-a", 4): b"c" * 16}
    beat = s.busy_beat(later, {**have, "node-x": 0}, lambda o, q: chains.get((o, q)), 7)
    hb = beat.heartbeat
    assert hb.busy and dict(hb.vv) == {"node-a": 4} and dict(hb.chains) == {"node-a": b"c" * 16}
    assert not s.beat_due(later + LIMITS.heartbeat_s)

    sub = SubscriberSession(B, "node-a", "addr", 2)
    sub.on_welcome(pb.ServerMessage(welcome=pb.Welcome(node_id="node-a", vv=have)), {}, 0.0)
    assert sub.catching_up
    assert not sub.on_message(beat, 0.1).caught_up  # more batches follow
    idle = pb.ServerMessage(heartbeat=pb.Heartbeat(vv=have))
    assert sub.on_message(idle, 0.2).caught_up


@pytest.mark.parametrize("where", ["welcome", "heartbeat"])
def test_a_malformed_vouched_vv_is_refused(where):
    """What a peer vouches for is what a snapshot receiver believes of it: checked like a vv."""
    sub = SubscriberSession(B, "node-a", "addr", 2)
    bad = {"Not An Origin!": 1}
    welcome = pb.Welcome(node_id="node-a", vouched=bad if where == "welcome" else {})
    if where == "welcome":
        with pytest.raises(Refused, match="bad origin .* in a Welcome's vouched vv"):
            sub.on_welcome(pb.ServerMessage(welcome=welcome), {}, 0.0)
        return
    sub.on_welcome(pb.ServerMessage(welcome=welcome), {}, 0.0)
    beat = pb.ServerMessage(heartbeat=pb.Heartbeat(vouched=bad))
    with pytest.raises(Refused, match="bad origin .* in a Heartbeat's vouched vv"):
        sub.on_message(beat, 0.1)
