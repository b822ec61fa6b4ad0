"""Fuzzing both ends of a replication stream with random messages (Hypothesis).

Whatever arrives, in any order: no exception escapes a session except the typed
protocol errors (``Refused``, ``PeerFailed``), and refused input changes nothing: the
server's cursor and the replica's vv, digest and clock stay as they were.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.pb import remesh_pb2 as pb
from node.protocol import (
    Identity,
    ProtocolError,
    ServerLimits,
    ServerSession,
    SubscriberSession,
)
from node.protocol.validate import WriteLimits
from tests.memreplica import MemoryReplica

pytestmark = pytest.mark.unit

A = Identity("node-a", "c", "t", "node-a@0123456789aa")
B = Identity("node-b", "c", "t", "node-b@0123456789bb")
LIMITS = ServerLimits(10, 1 << 16, 1.0, 2.0)

names = st.one_of(
    st.sampled_from(["node-a", "node-b", "node-c", "node-a@0123456789aa", "node-c@00000000000c"]),
    st.text(max_size=20),
)
vvs = st.dictionaries(names, st.integers(0, 2**64 - 1), max_size=5)
entries = st.builds(
    pb.Entry,
    origin=names,
    seq=st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)),
    hlc=st.one_of(st.integers(0, 2**20), st.integers(0, 2**64 - 1)),
    op=st.integers(0, 5),
    key=st.binary(max_size=8),
    value=st.binary(max_size=8),
)
subscriber_messages = st.one_of(
    st.builds(
        lambda n, c, t, r, p, vv, ex: pb.SubscriberMessage(
            hello=pb.Hello(
                node_id=n, cluster=c, tenant=t, replica_id=r, protocol=p, vv=vv, exclude=ex
            )
        ),
        names,
        st.sampled_from(["c", "x"]),
        st.sampled_from(["t", "y"]),
        names,
        st.integers(0, 3),
        vvs,
        st.lists(names, max_size=4),
    ),
    st.builds(lambda vv: pb.SubscriberMessage(ack=pb.Ack(vv=vv)), vvs),
    st.builds(
        lambda ex: pb.SubscriberMessage(want=pb.Want(exclude=ex)), st.lists(names, max_size=4)
    ),
    st.just(pb.SubscriberMessage()),
)
server_messages = st.one_of(
    st.builds(
        lambda n, r, vv, w: pb.ServerMessage(
            welcome=pb.Welcome(node_id=n, replica_id=r, vv=vv, wall_ms=w)
        ),
        names,
        names,
        vvs,
        st.integers(0, 2**64 - 1),
    ),
    st.builds(
        lambda es: pb.ServerMessage(batch=pb.Batch(entries=es)), st.lists(entries, max_size=4)
    ),
    st.builds(lambda vv: pb.ServerMessage(heartbeat=pb.Heartbeat(vv=vv)), vvs),
    st.just(pb.ServerMessage()),
)


def cursor_state(s: ServerSession) -> tuple:
    return dict(s.cursor.pos), dict(s.cursor.acked), set(s.cursor.exclude), s.peer


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.one_of(st.none(), subscriber_messages), rest=st.lists(subscriber_messages, max_size=8)
)
def test_the_server_session_takes_any_message_sequence(first, rest):
    s = ServerSession(A, LIMITS)
    try:
        s.on_hello(first, {"node-a@0123456789aa": 3}, 0.0)
    except ProtocolError:
        assert cursor_state(s) == ({}, {}, set(), "")
        return
    for msg in rest:
        before = cursor_state(s)
        try:
            s.on_message(msg, 1.0)
        except ProtocolError:
            assert cursor_state(s) == before
            return


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=st.lists(server_messages, min_size=1, max_size=8))
def test_the_subscriber_session_and_the_apply_path_take_any_message_sequence(msgs):
    sub = SubscriberSession(B, "node-a", "addr", 2.0)
    replica = MemoryReplica("node-b", "node-b@0123456789bb")
    sub.hello(replica.vv, [])
    try:
        sub.on_welcome(msgs[0], replica.vv, 0.0, wall_ms=1)
        for msg in msgs[1:]:
            got = sub.on_message(msg, 1.0, wall_ms=1)
            before = (dict(replica.vv), replica.digest, replica.clock.last)
            try:  # the pipeline Replica.apply_remote runs
                replica.receive(got.entries, "node-a", wall_ms=1, limits=WriteLimits(16, 16))
            except ProtocolError:
                assert (dict(replica.vv), replica.digest, replica.clock.last) == before
                continue
    except ProtocolError:
        pass
