from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OP_UNSPECIFIED: _ClassVar[Op]
    PUT: _ClassVar[Op]
    DELETE: _ClassVar[Op]
OP_UNSPECIFIED: Op
PUT: Op
DELETE: Op

class Entry(_message.Message):
    __slots__ = ("origin", "seq", "hlc", "op", "key", "value")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    origin: str
    seq: int
    hlc: int
    op: Op
    key: bytes
    value: bytes
    def __init__(self, origin: _Optional[str] = ..., seq: _Optional[int] = ..., hlc: _Optional[int] = ..., op: _Optional[_Union[Op, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class Version(_message.Message):
    __slots__ = ("hlc", "origin", "seq")
    HLC_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    hlc: int
    origin: str
    seq: int
    def __init__(self, hlc: _Optional[int] = ..., origin: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class Write(_message.Message):
    __slots__ = ("op", "key", "value")
    OP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    op: Op
    key: bytes
    value: bytes
    def __init__(self, op: _Optional[_Union[Op, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class PutBatchRequest(_message.Message):
    __slots__ = ("writes",)
    WRITES_FIELD_NUMBER: _ClassVar[int]
    writes: _containers.RepeatedCompositeFieldContainer[Write]
    def __init__(self, writes: _Optional[_Iterable[_Union[Write, _Mapping]]] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("version", "absent")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ABSENT_FIELD_NUMBER: _ClassVar[int]
    version: Version
    absent: bool
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ..., absent: _Optional[bool] = ...) -> None: ...

class PutBatchResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[Version]
    def __init__(self, versions: _Optional[_Iterable[_Union[Version, _Mapping]]] = ...) -> None: ...

class WriteResult(_message.Message):
    __slots__ = ("version", "code", "error")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    version: Version
    code: int
    error: str
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ..., code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("found", "value", "version")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value: bytes
    version: Version
    def __init__(self, found: _Optional[bool] = ..., value: _Optional[bytes] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("prefix", "limit", "start")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    limit: int
    start: bytes
    def __init__(self, prefix: _Optional[bytes] = ..., limit: _Optional[int] = ..., start: _Optional[bytes] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value", "version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    version: Version
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ("items", "next_key")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_KEY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[KeyValue]
    next_key: bytes
    def __init__(self, items: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., next_key: _Optional[bytes] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    def __init__(self, prefix: _Optional[bytes] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("entry", "won", "applied_unix_ns")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    WON_FIELD_NUMBER: _ClassVar[int]
    APPLIED_UNIX_NS_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    won: bool
    applied_unix_ns: int
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ..., won: _Optional[bool] = ..., applied_unix_ns: _Optional[int] = ...) -> None: ...

class Changes(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    def __init__(self, changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerStatus(_message.Message):
    __slots__ = ("peer", "address", "connected", "entries_received", "connects", "last_error", "subscribed", "entries_sent", "last_ack_age_s", "lag", "excluded", "replica_id", "clock_offset_ms", "clock_measured")
    PEER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CONNECTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_SENT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACK_AGE_S_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_MEASURED_FIELD_NUMBER: _ClassVar[int]
    peer: str
    address: str
    connected: bool
    entries_received: int
    connects: int
    last_error: str
    subscribed: bool
    entries_sent: int
    last_ack_age_s: float
    lag: int
    excluded: _containers.RepeatedScalarFieldContainer[str]
    replica_id: str
    clock_offset_ms: int
    clock_measured: bool
    def __init__(self, peer: _Optional[str] = ..., address: _Optional[str] = ..., connected: _Optional[bool] = ..., entries_received: _Optional[int] = ..., connects: _Optional[int] = ..., last_error: _Optional[str] = ..., subscribed: _Optional[bool] = ..., entries_sent: _Optional[int] = ..., last_ack_age_s: _Optional[float] = ..., lag: _Optional[int] = ..., excluded: _Optional[_Iterable[str]] = ..., replica_id: _Optional[str] = ..., clock_offset_ms: _Optional[int] = ..., clock_measured: _Optional[bool] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node_id", "cluster", "tenant", "vv", "keys", "digest", "peers", "entries_received", "duplicates_received", "early_dropped", "entries_sent", "local_writes", "durability", "log_entries", "hlc", "pid", "recovered_from", "replica_id", "state", "state_reason", "log_held", "tombstones", "truncated", "pins", "gc_floor", "snapshots_sent", "snapshots_received", "snapshot", "gc_horizon", "forks", "storage_error")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RecoveredFromEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class TruncatedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    VV_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    EARLY_DROPPED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_SENT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_WRITES_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_FROM_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    LOG_HELD_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    PINS_FIELD_NUMBER: _ClassVar[int]
    GC_FLOOR_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_SENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    GC_HORIZON_FIELD_NUMBER: _ClassVar[int]
    FORKS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ERROR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cluster: str
    tenant: str
    vv: _containers.ScalarMap[str, int]
    keys: int
    digest: str
    peers: _containers.RepeatedCompositeFieldContainer[PeerStatus]
    entries_received: int
    duplicates_received: int
    early_dropped: int
    entries_sent: int
    local_writes: int
    durability: str
    log_entries: int
    hlc: int
    pid: int
    recovered_from: _containers.ScalarMap[str, int]
    replica_id: str
    state: str
    state_reason: str
    log_held: int
    tombstones: int
    truncated: _containers.ScalarMap[str, int]
    pins: _containers.RepeatedCompositeFieldContainer[Pin]
    gc_floor: int
    snapshots_sent: int
    snapshots_received: int
    snapshot: str
    gc_horizon: int
    forks: _containers.RepeatedCompositeFieldContainer[Fork]
    storage_error: str
    def __init__(self, node_id: _Optional[str] = ..., cluster: _Optional[str] = ..., tenant: _Optional[str] = ..., vv: _Optional[_Mapping[str, int]] = ..., keys: _Optional[int] = ..., digest: _Optional[str] = ..., peers: _Optional[_Iterable[_Union[PeerStatus, _Mapping]]] = ..., entries_received: _Optional[int] = ..., duplicates_received: _Optional[int] = ..., early_dropped: _Optional[int] = ..., entries_sent: _Optional[int] = ..., local_writes: _Optional[int] = ..., durability: _Optional[str] = ..., log_entries: _Optional[int] = ..., hlc: _Optional[int] = ..., pid: _Optional[int] = ..., recovered_from: _Optional[_Mapping[str, int]] = ..., replica_id: _Optional[str] = ..., state: _Optional[str] = ..., state_reason: _Optional[str] = ..., log_held: _Optional[int] = ..., tombstones: _Optional[int] = ..., truncated: _Optional[_Mapping[str, int]] = ..., pins: _Optional[_Iterable[_Union[Pin, _Mapping]]] = ..., gc_floor: _Optional[int] = ..., snapshots_sent: _Optional[int] = ..., snapshots_received: _Optional[int] = ..., snapshot: _Optional[str] = ..., gc_horizon: _Optional[int] = ..., forks: _Optional[_Iterable[_Union[Fork, _Mapping]]] = ..., storage_error: _Optional[str] = ...) -> None: ...

class Fork(_message.Message):
    __slots__ = ("origin", "seq", "peers", "verdict")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    origin: str
    seq: int
    peers: _containers.RepeatedScalarFieldContainer[str]
    verdict: str
    def __init__(self, origin: _Optional[str] = ..., seq: _Optional[int] = ..., peers: _Optional[_Iterable[str]] = ..., verdict: _Optional[str] = ...) -> None: ...

class Pin(_message.Message):
    __slots__ = ("origin", "peer", "acked", "since_s", "open")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    SINCE_S_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    origin: str
    peer: str
    acked: int
    since_s: float
    open: bool
    def __init__(self, origin: _Optional[str] = ..., peer: _Optional[str] = ..., acked: _Optional[int] = ..., since_s: _Optional[float] = ..., open: _Optional[bool] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("protocol", "cluster", "tenant", "node_id", "vv", "exclude", "replica_id", "packed_snapshots", "chains")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ChainsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VV_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    PACKED_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    protocol: int
    cluster: str
    tenant: str
    node_id: str
    vv: _containers.ScalarMap[str, int]
    exclude: _containers.RepeatedScalarFieldContainer[str]
    replica_id: str
    packed_snapshots: bool
    chains: _containers.ScalarMap[str, bytes]
    def __init__(self, protocol: _Optional[int] = ..., cluster: _Optional[str] = ..., tenant: _Optional[str] = ..., node_id: _Optional[str] = ..., vv: _Optional[_Mapping[str, int]] = ..., exclude: _Optional[_Iterable[str]] = ..., replica_id: _Optional[str] = ..., packed_snapshots: _Optional[bool] = ..., chains: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("vv", "durable", "clock", "members")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DurableEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VV_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    vv: _containers.ScalarMap[str, int]
    durable: _containers.ScalarMap[str, int]
    clock: int
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vv: _Optional[_Mapping[str, int]] = ..., durable: _Optional[_Mapping[str, int]] = ..., clock: _Optional[int] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class Want(_message.Message):
    __slots__ = ("exclude",)
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    exclude: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, exclude: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscriberMessage(_message.Message):
    __slots__ = ("hello", "ack", "want")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    WANT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    ack: Ack
    want: Want
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., want: _Optional[_Union[Want, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("node_id", "vv", "replica_id", "wall_ms", "gc_horizon", "chains", "vouched")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ChainsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class VouchedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VV_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    GC_HORIZON_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    VOUCHED_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    vv: _containers.ScalarMap[str, int]
    replica_id: str
    wall_ms: int
    gc_horizon: int
    chains: _containers.ScalarMap[str, bytes]
    vouched: _containers.ScalarMap[str, int]
    def __init__(self, node_id: _Optional[str] = ..., vv: _Optional[_Mapping[str, int]] = ..., replica_id: _Optional[str] = ..., wall_ms: _Optional[int] = ..., gc_horizon: _Optional[int] = ..., chains: _Optional[_Mapping[str, bytes]] = ..., vouched: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("vv", "wall_ms", "chains", "vouched", "busy")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ChainsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class VouchedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VV_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    VOUCHED_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    vv: _containers.ScalarMap[str, int]
    wall_ms: int
    chains: _containers.ScalarMap[str, bytes]
    vouched: _containers.ScalarMap[str, int]
    busy: bool
    def __init__(self, vv: _Optional[_Mapping[str, int]] = ..., wall_ms: _Optional[int] = ..., chains: _Optional[_Mapping[str, bytes]] = ..., vouched: _Optional[_Mapping[str, int]] = ..., busy: _Optional[bool] = ...) -> None: ...

class SnapshotBegin(_message.Message):
    __slots__ = ("vv", "tops", "records", "gc_horizon", "chains")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class TopsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ChainsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    VV_FIELD_NUMBER: _ClassVar[int]
    TOPS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    GC_HORIZON_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    vv: _containers.ScalarMap[str, int]
    tops: _containers.ScalarMap[str, int]
    records: int
    gc_horizon: int
    chains: _containers.ScalarMap[str, bytes]
    def __init__(self, vv: _Optional[_Mapping[str, int]] = ..., tops: _Optional[_Mapping[str, int]] = ..., records: _Optional[int] = ..., gc_horizon: _Optional[int] = ..., chains: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("records", "end", "packed")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Entry]
    end: bytes
    packed: bytes
    def __init__(self, records: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., end: _Optional[bytes] = ..., packed: _Optional[bytes] = ...) -> None: ...

class SnapshotEnd(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: int
    def __init__(self, records: _Optional[int] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "batch", "heartbeat", "snapshot_begin", "snapshot_chunk", "snapshot_end")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_BEGIN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_END_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    batch: Batch
    heartbeat: Heartbeat
    snapshot_begin: SnapshotBegin
    snapshot_chunk: SnapshotChunk
    snapshot_end: SnapshotEnd
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., batch: _Optional[_Union[Batch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., snapshot_begin: _Optional[_Union[SnapshotBegin, _Mapping]] = ..., snapshot_chunk: _Optional[_Union[SnapshotChunk, _Mapping]] = ..., snapshot_end: _Optional[_Union[SnapshotEnd, _Mapping]] = ...) -> None: ...

class SetPeersRequest(_message.Message):
    __slots__ = ("peers",)
    class PeersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PEERS_FIELD_NUMBER: _ClassVar[int]
    peers: _containers.ScalarMap[str, str]
    def __init__(self, peers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SetPeersResponse(_message.Message):
    __slots__ = ("added", "removed", "changed", "kept")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedScalarFieldContainer[str]
    kept: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[str]] = ..., kept: _Optional[_Iterable[str]] = ...) -> None: ...

class DecommissionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerHolding(_message.Message):
    __slots__ = ("peer", "subscribed", "missing")
    PEER_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    peer: str
    subscribed: bool
    missing: int
    def __init__(self, peer: _Optional[str] = ..., subscribed: _Optional[bool] = ..., missing: _Optional[int] = ...) -> None: ...

class DecommissionResponse(_message.Message):
    __slots__ = ("replica_id", "vv", "peers", "all_held")
    class VvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    VV_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    ALL_HELD_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    vv: _containers.ScalarMap[str, int]
    peers: _containers.RepeatedCompositeFieldContainer[PeerHolding]
    all_held: bool
    def __init__(self, replica_id: _Optional[str] = ..., vv: _Optional[_Mapping[str, int]] = ..., peers: _Optional[_Iterable[_Union[PeerHolding, _Mapping]]] = ..., all_held: _Optional[bool] = ...) -> None: ...

class SetClockOffsetRequest(_message.Message):
    __slots__ = ("offset_ms",)
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    offset_ms: int
    def __init__(self, offset_ms: _Optional[int] = ...) -> None: ...

class SetClockOffsetResponse(_message.Message):
    __slots__ = ("offset_ms", "wall_ms")
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    offset_ms: int
    wall_ms: int
    def __init__(self, offset_ms: _Optional[int] = ..., wall_ms: _Optional[int] = ...) -> None: ...

class ChallengeRequest(_message.Message):
    __slots__ = ("client_nonce",)
    CLIENT_NONCE_FIELD_NUMBER: _ClassVar[int]
    client_nonce: bytes
    def __init__(self, client_nonce: _Optional[bytes] = ...) -> None: ...

class ChallengeResponse(_message.Message):
    __slots__ = ("cluster", "node_id", "server_nonce", "proof")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NONCE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    node_id: str
    server_nonce: bytes
    proof: bytes
    def __init__(self, cluster: _Optional[str] = ..., node_id: _Optional[str] = ..., server_nonce: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...
