"""A lying member for fork tests: a Replication server that node under test subscribes to
(after ``Admin.SetPeers``), answers its Hello like a peer and sends entries it forged
under another node's origin, then heartbeats like an idle peer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

from cluster.ports import free_ports
from node.challenge import ChallengeFailed, Issuer
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc


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


class Forger(pb_grpc.ReplicationServicer):
    """Serves ``entries`` once to whoever subscribes, as node ``name``."""

    def __init__(self, name: str, entries: list[pb.Entry], token: str, cluster: str) -> None:
        self.name = name
        self.replica_id = f"{name}@0000000000ff"
        self.entries = entries
        self.hellos: list[pb.Hello] = []
        self.stopped = threading.Event()
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_ReplicationServicer_to_server(self, self.server)
        prover = Prover(Issuer(token.encode(), cluster, name))
        pb_grpc.add_AuthServicer_to_server(prover, self.server)
        self.server.add_insecure_port(self.address)

    def __enter__(self) -> Forger:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.server.stop(0).wait(5)

    def Replicate(self, request_iterator: Iterator[pb.SubscriberMessage], context) -> Iterator:
        hello = next(request_iterator).hello
        self.hellos.append(hello)
        threading.Thread(target=_drain, args=(request_iterator,), daemon=True).start()
        yield pb.ServerMessage(
            welcome=pb.Welcome(
                node_id=self.name, replica_id=self.replica_id, vv={}, wall_ms=_wall()
            )
        )
        held = dict(hello.vv)
        forged = [e for e in self.entries if e.seq == held.get(e.origin, 0) + 1]
        if forged:
            yield pb.ServerMessage(batch=pb.Batch(entries=forged))
        while context.is_active() and not self.stopped.wait(0.1):
            yield pb.ServerMessage(heartbeat=pb.Heartbeat(wall_ms=_wall()))


def _drain(requests: Iterator[pb.SubscriberMessage]) -> None:
    """Read the subscriber's acks until its stream ends (its end is no error here)."""
    try:
        for _ in requests:
            pass
    except grpc.RpcError:
        pass


def _wall() -> int:
    return int(time.time() * 1000)
