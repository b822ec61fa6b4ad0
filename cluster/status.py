"""What ``status`` shows: one ``NodeView`` per node, from its process and its own Status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.backends.base import DOWN, RUNNING, UNSUPERVISED, ProcessInfo
from cluster.convergence import fork_line
from node.pb import remesh_pb2 as pb

PAUSED = "PAUSED"


@dataclass
class NodeView:
    """One node's row in ``status``."""

    name: str
    state: str
    pid: int
    address: str
    keys: int | None = None
    vv: dict[str, int] | None = None
    digest: str | None = None
    links: dict[str, bool] | None = None
    lag: dict[str, int] | None = None
    entries_received: int | None = None
    entries_sent: int | None = None
    replica_id: str = ""  # the origin of its writes: <name>@<incarnation>
    replica_state: str = ""  # "recovering" (writes wait), "serving" or "stale" (serves nothing)
    replica_reason: str = ""  # why it kept or minted its incarnation
    clock_offset_ms: dict[str, int] | None = None  # per peer: its clock minus this node's
    link_errors: dict[str, str] | None = None  # per peer: why its link last failed
    metrics: str = ""  # the URL of its Prometheus metrics
    log_entries: int | None = None  # every entry the vv names
    log_held: int | None = None  # of those, still on disk (not truncated)
    tombstones: int | None = None  # deleted keys whose tombstone is still held
    gc_horizon: int | None = None  # hlc of the newest tombstone collected (0: none)
    truncated: dict[str, int] | None = None  # per origin: its log dropped up to this seq
    pins: list[dict[str, Any]] | None = None  # members holding truncation back
    snapshot: str = ""  # the last snapshot sent or received, or one under way
    forks: list[str] | None = None  # origins a peer holds differently (docs/integrity.md)
    storage_error: str = ""  # why its storage failed ("": works; remesh_storage_ok)
    storage_ok: bool | None = None  # None: not asked (not running, or no answer)
    behind: int | None = None  # entries the most advanced node holds and it lacks
    digest_differs: bool = False  # a node with the same vv holds another digest
    error: str = ""
    ident: str = ""  # the backend's handle: a pid, a container id

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def reachable(self) -> bool:
        """Worth asking over gRPC: its process runs and is not frozen."""
        return self.state in (RUNNING, UNSUPERVISED)

    def fill(self, st: pb.StatusResponse) -> None:
        """Add what the node says about itself."""
        self.keys, self.vv, self.digest = st.keys, dict(st.vv), st.digest
        self.links = {p.peer: p.connected for p in st.peers if p.address}
        self.lag = {p.peer: p.lag for p in st.peers if p.subscribed}
        self.entries_received, self.entries_sent = st.entries_received, st.entries_sent
        self.replica_id, self.replica_state = st.replica_id, st.state
        self.replica_reason = st.state_reason
        self.clock_offset_ms = {p.peer: p.clock_offset_ms for p in st.peers if p.clock_measured}
        self.link_errors = {p.peer: p.last_error for p in st.peers if p.last_error}
        self.log_entries, self.log_held = st.log_entries, st.log_held
        self.tombstones, self.truncated = st.tombstones, dict(st.truncated)
        self.gc_horizon = st.gc_horizon
        self.pins = [
            {
                "origin": p.origin,
                "peer": p.peer,
                "acked": p.acked,
                "since_s": round(p.since_s, 1),
                "open": p.open,
            }
            for p in st.pins
        ]
        self.snapshot = st.snapshot
        self.forks = [fork_line(f) for f in st.forks]
        self.storage_error, self.storage_ok = st.storage_error, not st.storage_error


def view(name: str, info: ProcessInfo | None, paused: bool, address: str) -> NodeView:
    """A node's row before asking it anything: its process state (PAUSED when frozen)."""
    if info is None:
        return NodeView(name, DOWN, 0, address)
    state = PAUSED if info.state == RUNNING and paused else info.state
    return NodeView(name, state, info.pid, address, ident=info.ident)
