"""A malicious member: a fake server and a fake subscriber that speak the real
replication protocol with the cluster's valid credentials, so a test can send a real
node process exactly the lie it wants to check (issue 24): lying snapshots
(tests/hostile/test_lying_member.py), entries forged under another node's origin
(``forging``, tests/integration/test_forks.py).

``FakeServer`` listens like a node: it answers ``Auth.Challenge`` with the token (as a
member can) and checks the proof a subscriber then presents; a real node pointed at it
(``Admin.SetPeers``) subscribes, says Hello, and is answered with whatever the test's
script yields (a Welcome first); then heartbeats (claiming the script's vv) until the
node ends the stream. The node's Acks are recorded. ``FakeSubscriber`` dials a real
node as a named member and reads what it is served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures

import grpc

from cluster.client import open_channel
from cluster.secrets import Credentials
from cluster.wait import wait_for
from node.api.bearer import HEADER
from node.api.challenge import ChallengeFailed, Issuer
from node.clock import wall_ms
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.protocol.hello import PROTOCOL
from node.protocol.identity import replica_id

SERVICE = pb.DESCRIPTOR.services_by_name["Replication"].full_name
HEARTBEAT_S = 0.1

Script = Callable[["FakeServer", pb.Hello], Iterable[pb.ServerMessage]]


def welcome(node_id: str, origin: str, vv: dict[str, int], horizon: int = 0) -> pb.ServerMessage:
    return pb.ServerMessage(
        welcome=pb.Welcome(
            node_id=node_id, replica_id=origin, vv=vv, wall_ms=wall_ms(), gc_horizon=horizon
        )
    )


def snapshot(
    vv: dict[str, int],
    tops: dict[str, int] | None = None,
    horizon: int = 0,
    records: list[pb.Entry] | None = None,
) -> list[pb.ServerMessage]:
    """Begin, one last chunk of ``records`` (none by default) and End: a snapshot at
    ``vv``."""
    records = records or []
    begin = pb.SnapshotBegin(vv=vv, tops=tops or {}, records=len(records), gc_horizon=horizon)
    return [
        pb.ServerMessage(snapshot_begin=begin),
        pb.ServerMessage(snapshot_chunk=pb.SnapshotChunk(records=records)),
        pb.ServerMessage(snapshot_end=pb.SnapshotEnd(records=len(records))),
    ]


def forging(entries: list[pb.Entry]) -> Script:
    """A script that sends each subscriber those of ``entries`` next in line for it (one
    seq past what its Hello holds of their origin), once: a member relaying entries it
    forged under another node's origin."""

    def script(member: FakeServer, hello: pb.Hello) -> Iterator[pb.ServerMessage]:
        yield welcome(member.node_id, member.origin, {})
        held = dict(hello.vv)
        forged = [e for e in entries if e.seq == held.get(e.origin, 0) + 1]
        if forged:
            yield pb.ServerMessage(batch=pb.Batch(entries=forged))

    return script


class Prover(pb_grpc.AuthServicer):
    """``Auth.Challenge`` answered with the cluster's token: the member holds it."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer

    def Challenge(self, request: pb.ChallengeRequest, context) -> pb.ChallengeResponse:
        try:
            sn, proof = self.issuer.challenge(request.client_nonce)
        except ChallengeFailed as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        i = self.issuer
        return pb.ChallengeResponse(cluster=i.cluster, node_id=i.node, server_nonce=sn, proof=proof)


class FakeServer:
    """A member named ``node_id`` that answers every subscriber with ``script``."""

    def __init__(self, node_id: str, token: str, cluster: str, port: int, script: Script) -> None:
        self.node_id = node_id
        self.origin = replica_id(node_id, "00000000fa6e")
        self.issuer = Issuer(token.encode(), cluster, node_id)
        self.script = script
        self.address = f"127.0.0.1:{port}"
        self.hellos: list[pb.Hello] = []
        self.acks: list[pb.Ack] = []
        self.scripts_done = 0  # streams whose whole script went out
        self.claimed: dict[str, int] = {}  # the vv its heartbeats claim
        self._stop = threading.Event()
        self._lock = threading.Lock()
        handler = grpc.stream_stream_rpc_method_handler(
            self._replicate,
            request_deserializer=pb.SubscriberMessage.FromString,
            response_serializer=pb.ServerMessage.SerializeToString,
        )
        generic = grpc.method_handlers_generic_handler(SERVICE, {"Replicate": handler})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((generic,))
        pb_grpc.add_AuthServicer_to_server(Prover(self.issuer), self.server)
        self.server.add_insecure_port(self.address)
        self.server.start()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replicate(
        self, requests: Iterator[pb.SubscriberMessage], context: grpc.ServicerContext
    ) -> Iterator[pb.ServerMessage]:
        problem = self.issuer.problem(dict(context.invocation_metadata()).get(HEADER, ""))
        if problem:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)
        first = next(requests)
        hello = first.hello
        with self._lock:
            self.hellos.append(hello)
        threading.Thread(target=self._drain, args=(requests,), daemon=True).start()
        for msg in self.script(self, hello):
            if msg.WhichOneof("msg") in ("welcome", "heartbeat"):
                got = msg.welcome.vv if msg.HasField("welcome") else msg.heartbeat.vv
                self.claimed = dict(got)
            yield msg
        with self._lock:
            self.scripts_done += 1
        while context.is_active() and not self._stop.wait(HEARTBEAT_S):
            yield pb.ServerMessage(heartbeat=pb.Heartbeat(vv=self.claimed, wall_ms=wall_ms()))

    def _drain(self, requests: Iterator[pb.SubscriberMessage]) -> None:
        try:
            for msg in requests:
                if msg.HasField("ack"):
                    with self._lock:
                        self.acks.append(msg.ack)
        except grpc.RpcError:
            pass

    def wait_script_sent(self, timeout: float = 20) -> None:
        wait_for(lambda: self.scripts_done > 0, timeout, f"a node to subscribe to {self.node_id}")

    def close(self) -> None:
        self._stop.set()
        self.server.stop(grace=None).wait(10)


class FakeSubscriber:
    """A member named ``node_id`` subscribing to the real node ``target``: what is it
    served?"""

    def __init__(
        self,
        node_id: str,
        target: str,
        address: str,
        token: str,
        cluster: str,
        tenant: str = "default",
    ) -> None:
        self.channel = open_channel(target, address, Credentials(token, cluster=cluster))
        self.hello = pb.Hello(
            protocol=PROTOCOL,
            node_id=node_id,
            cluster=cluster,
            tenant=tenant,
            replica_id=replica_id(node_id, "00000000fa6e"),
            packed_snapshots=False,
        )

    def first(self, n: int, timeout: float = 30) -> list[pb.ServerMessage]:
        """The first ``n`` messages the node sends after this Hello."""
        call = self.channel.stream_stream(
            f"/{SERVICE}/Replicate",
            request_serializer=pb.SubscriberMessage.SerializeToString,
            response_deserializer=pb.ServerMessage.FromString,
        )(iter([pb.SubscriberMessage(hello=self.hello)]), timeout=timeout)
        out: list[pb.ServerMessage] = []
        try:
            for msg in call:
                out.append(msg)
                if len(out) >= n:
                    break
        finally:
            call.cancel()
        return out

    def close(self) -> None:
        self.channel.close()
