"""The node settings schema: every tunable of a replica, declared once.

``node.config.NodeConfig`` (a node's YAML file) and the cluster tool's topology
model (``cluster.topology``, the ``settings:`` of a topology file) both validate
against these declarations, so a setting, its default, its bounds and the node
name rule cannot drift between the two. Every number has an upper bound as well
as a lower one: a typo such as a 10^23 ms timeout is refused, not obeyed. Each
reader words its own errors (a topology names file, line and field; a node
config names file and field); the rules are here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from node.protocol.identity import NAME_PATTERN, NAME_RE, NAME_RULE

__all__ = ["NAME_PATTERN", "NAME_RE", "NAME_RULE", "Name", "NodeSettings", "bounds"]

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]

KIB = 1024
MIB = 1024 * KIB


class NodeSettings(BaseModel):
    """Per-node tunables: cluster-wide in a topology's ``settings:``, overridable per node."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    durability: Literal["buffered", "sync"] = Field(
        "buffered", description="buffered | sync (fsync each group-committed batch)"
    )
    max_key_bytes: int = Field(4 * KIB, ge=1, le=64 * KIB, description="longest key accepted")
    max_value_bytes: int = Field(
        1 * MIB, ge=1, le=64 * MIB, description="largest value accepted (one gRPC message holds it)"
    )
    max_batch_entries: int = Field(
        1000, ge=1, le=100_000, description="entries per replication message and per PutBatch"
    )
    heartbeat_ms: int = Field(200, ge=10, le=60_000, description="idle stream heartbeat")
    link_timeout_ms: int = Field(
        1500,
        ge=1,
        le=600_000,
        description="a link silent this long is dead (even if TCP says nothing)",
    )
    backoff_max_ms: int = Field(1000, ge=10, le=60_000, description="reconnect backoff cap")
    watermark_every_entries: int = Field(
        10_000, ge=1, le=10_000_000, description="checkpoint after this many applied entries"
    )
    watermark_every_ms: int = Field(500, ge=10, le=3_600_000, description="and at least this often")
    max_clock_skew_ms: int = Field(
        60_000,
        ge=100,
        le=7 * 86_400_000,
        description="entries dated further ahead of this node's clock are held, not applied",
    )
    linger_ms: float = Field(
        1.0,
        ge=0,
        le=100,
        description="a stream waits this long after a batch so commits share messages",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text | json (one JSON object per line: time, level, node, event)"
    )
    # Bounded disk (docs/compaction.md): what stays after truncation and GC.
    retain_entries: int = Field(
        10_000, ge=0, le=100_000_000, description="log entries kept per origin past every ack"
    )
    retain_ms: int = Field(
        60_000, ge=0, le=30 * 86_400_000, description="log entries younger than this are kept"
    )
    tombstone_grace_ms: int = Field(
        600_000,
        ge=0,
        le=365 * 86_400_000,
        description="a tombstone is kept at least this long (must exceed clock skew)",
    )
    pin_timeout_ms: int = Field(
        3_600_000,
        ge=0,
        le=365 * 86_400_000,
        description="a member silent this long stops holding log truncation back",
    )
    compact_every_ms: int = Field(
        1000, ge=10, le=3_600_000, description="how often truncation and tombstone GC run"
    )
    snapshot_chunk_keys: int = Field(
        1000, ge=1, le=100_000, description="records per snapshot message"
    )
    snapshot_rate_keys: int = Field(
        0, ge=0, le=100_000_000, description="snapshot records sent per second (0: no limit)"
    )
    snapshot_lag_ratio: float = Field(
        2.0,
        ge=0,
        le=1000,
        description="a subscriber lacking more log entries than this times the records held "
        "(and at least 10,000) gets a snapshot instead (0: only past truncation)",
    )
    write_buffer_kib: int = Field(
        32 * KIB,
        ge=64,
        le=256 * KIB,
        description="LevelDB memtable (and its .log file) size before a flush to a table",
    )

    @model_validator(mode="after")
    def _timeout_exceeds_heartbeat(self) -> NodeSettings:
        # A link that times out before its first heartbeat could arrive would flap forever.
        if self.link_timeout_ms <= self.heartbeat_ms:
            raise PydanticCustomError(
                "link_timeout",
                "link_timeout_ms ({t}) must be greater than heartbeat_ms ({h})",
                {"t": self.link_timeout_ms, "h": self.heartbeat_ms},
            )
        return self

    def merged(self, override: dict[str, object]) -> NodeSettings:
        """These settings with ``override``'s keys replaced, validated as a whole."""
        return NodeSettings.model_validate({**self.model_dump(), **override})


SETTINGS = tuple(NodeSettings.model_fields)


def bounds(name: str) -> tuple[float | None, float | None]:
    """The inclusive (lowest, highest) a numeric setting accepts, from its declaration."""
    low = high = None
    for rule in NodeSettings.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high
