"""What a replica reports about itself: the answer to ``KV.Status`` (``cluster status``
and ``converge`` read it). A view: it reads the replica and changes nothing."""

from __future__ import annotations

import os

from node.pb import remesh_pb2 as pb
from node.replica import Replica
from node.storage.trim import log_held


def status_of(replica: Replica) -> pb.StatusResponse:
    state, reason = replica.incarnation.status
    return pb.StatusResponse(
        node_id=replica.node_id,
        replica_id=replica.origin,
        state="decommissioned" if replica.decommissioned else state,
        state_reason=reason,
        cluster=replica.config.cluster,
        tenant=replica.config.tenant,
        vv=replica.vv,
        keys=replica.store.keys,
        digest=f"{replica.store.digest:032x}",
        peers=replica.links.peer_status(replica.vv),
        durability=replica.config.durability,
        log_entries=sum(replica.vv.values()),
        hlc=replica.clock.last,
        pid=os.getpid(),
        recovered_from=replica.recovered_from,
        log_held=log_held(replica.store),
        tombstones=replica.store.tombs,
        truncated=replica.store.truncated,
        pins=replica.compactor.pins(),
        gc_floor=replica.compactor.floor(),
        gc_horizon=replica.store.horizon,
        snapshots_sent=replica.stats_snapshots["sent"],
        snapshots_received=replica.stats_snapshots["received"],
        snapshot=replica.snapshot_note,
        forks=replica.integrity.status(),
        storage_error=replica.health.error,
        **replica.stats,
    )
