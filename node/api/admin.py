"""The Admin gRPC service: membership changes on a running node, and the write gate.

- ``SetPeers``: the whole outbound peer set wanted. Bad input (a bad name, the node
  itself, an address that is not ``host:port``) is INVALID_ARGUMENT and changes
  nothing; otherwise removed peers' links stop and their stats are forgotten, new
  peers are subscribed to, and a peer whose address changed reconnects there. No
  restart: the other links never notice.
- ``SetClockOffset``: a fault for tests, the node's physical clock shifted at run time.
- ``Decommission``: the node stops taking writes (``WriteGate``: KV writes answer
  UNAVAILABLE with a message saying why), lets the writes already in flight finish,
  and reports how much of its own origins each configured peer has acknowledged.
  It lasts until the process stops; ``cluster remove`` stops it once every remaining
  node holds its entries.

Identity: a node restarted over its data asks the peers it had *at start* whether any
holds more of its origin (``node.incarnation``). A live peer change does not change
whom that check waits for: a dropped peer that never answers lets the check time
out, and the node then writes as a fresh incarnation (the safe default: one more vv
entry, never lost data); an added peer's Welcome still counts as evidence. The next
start asks the new set, which ``cluster`` renders into ``node.yaml``.

Authenticated like every KV and Replication call (``node.api.auth.TokenAuth``, the server's
one interceptor). The write gate itself is ``node.api.gate``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import grpc

from node.api.auth import OPERATOR_PREFIX, certified_name, may_administer
from node.api.gate import DRAIN_TIMEOUT_S, WriteGate
from node.config import NodeConfig
from node.membership import diff_peers, missing, own_origins, peer_problem
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from node.replica import Replica

log = logging.getLogger("node.api.admin")

MAX_CLOCK_OFFSET_MS = 365 * 86_400_000  # a year either way: enough to test any guard


class PeerControl(Protocol):
    """Who starts and stops a node's links (``node.app.Node``)."""

    def add_peer(self, peer: str, address: str) -> None: ...

    async def remove_peer(self, peer: str) -> None: ...


class AdminService(pb_grpc.AdminServicer):
    def __init__(
        self, replica: Replica, config: NodeConfig, peers: PeerControl, gate: WriteGate
    ) -> None:
        self.replica, self.config, self.peers, self.gate = replica, config, peers, gate
        self._lock = asyncio.Lock()  # one peer change at a time

    async def _operator_only(self, context: Any, method: str) -> None:
        """Under mutual TLS only the operator's certificate may call Admin: a member holds a
        node's key and may replicate as itself and read and write, but never re-point,
        decommission or skew another node."""
        name = certified_name(context)
        if may_administer(name):
            return
        self.replica.metrics.reject("auth")
        log.warning(
            "%s: refused Admin.%s from the certificate of %r",
            self.config.node_id,
            method,
            name,
        )
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"Admin.{method} is for the operator's certificate ({OPERATOR_PREFIX}<cluster>); "
            f"this caller's certificate names {name!r}",
        )

    async def SetPeers(self, request: pb.SetPeersRequest, context: Any) -> pb.SetPeersResponse:
        await self._operator_only(context, "SetPeers")
        wanted = dict(request.peers)
        problem = peer_problem(self.config.node_id, wanted)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"SetPeers: {problem}")
        async with self._lock:
            diff = diff_peers(self.config.peers, wanted)
            for peer in diff.removed + diff.changed:
                await self.peers.remove_peer(peer)
            for peer in diff.added + diff.changed:
                self.peers.add_peer(peer, wanted[peer])
        if not diff.empty:
            log.info(
                "%s: peers now %s (added %s, removed %s, changed %s)",
                self.config.node_id,
                ",".join(sorted(wanted)) or "none",
                ",".join(diff.added) or "-",
                ",".join(diff.removed) or "-",
                ",".join(diff.changed) or "-",
            )
        return pb.SetPeersResponse(
            added=diff.added, removed=diff.removed, changed=diff.changed, kept=diff.kept
        )

    async def Decommission(
        self, request: pb.DecommissionRequest, context: Any
    ) -> pb.DecommissionResponse:
        await self._operator_only(context, "Decommission")
        self.gate.close()
        self.replica.decommission()
        if not await self.gate.drained():
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"{self.gate.in_flight} writes still in flight after {DRAIN_TIMEOUT_S:g}s; "
                "call Decommission again",
            )
        replica = self.replica
        own = own_origins(replica.vv, self.config.node_id)
        peers = []
        for peer in sorted(self.config.peers):
            inbound = replica.links.inbound.get(peer)
            acked = inbound.session.cursor.acked if inbound else {}
            peers.append(
                pb.PeerHolding(
                    peer=peer,
                    subscribed=bool(inbound and inbound.open),
                    missing=missing(own, acked),
                )
            )
        held = not own or (bool(peers) and all(p.missing == 0 for p in peers))
        return pb.DecommissionResponse(
            replica_id=replica.origin, vv=own, peers=peers, all_held=held
        )

    async def SetClockOffset(
        self, request: pb.SetClockOffsetRequest, context: Any
    ) -> pb.SetClockOffsetResponse:
        """The clock-skew fault: the HLC never runs backwards, so a negative offset only
        slows this node's clock down until real time passes what it had issued."""
        await self._operator_only(context, "SetClockOffset")
        if abs(request.offset_ms) > MAX_CLOCK_OFFSET_MS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"SetClockOffset: {request.offset_ms} ms; at most {MAX_CLOCK_OFFSET_MS} ms "
                "either way",
            )
        replica = self.replica
        replica.clock_offset_ms = request.offset_ms
        log.warning(
            "%s: physical clock shifted by %+d ms (a test fault)",
            self.config.node_id,
            request.offset_ms,
        )
        return pb.SetClockOffsetResponse(offset_ms=request.offset_ms, wall_ms=replica.wall_ms())
