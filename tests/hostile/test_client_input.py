"""Hostile catalogue: what a client may send a node over gRPC (an embedded node, real
gRPC and LevelDB). Each case: the status and message a person sees, and proof that
nothing changed (the node's vv and digest)."""

from __future__ import annotations

import grpc
import pytest

from node.pb import remesh_pb2 as pb

pytestmark = pytest.mark.component

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def W(key: bytes = b"k", value: bytes = b"v", op: int = pb.PUT) -> pb.Write:
    return pb.Write(op=op, key=key, value=value)


CASES = [
    ("Put with an empty key", "Put", pb.PutRequest(key=b"", value=b"v"), "key must not be empty"),
    ("Put with a 5000-byte key", "Put", pb.PutRequest(key=b"k" * 5000), "key is 5000 bytes"),
    ("Put of a 2 MiB value", "Put", pb.PutRequest(key=b"k", value=b"v" * (2 << 20)), "value is"),
    ("Delete with an empty key", "Delete", pb.DeleteRequest(key=b""), "key must not be empty"),
    ("Get with an empty key", "Get", pb.GetRequest(key=b""), "key must not be empty"),
    ("PutBatch of nothing", "PutBatch", pb.PutBatchRequest(), "no writes given"),
    (
        "PutBatch of 1001 writes",
        "PutBatch",
        pb.PutBatchRequest(writes=[W(b"k%d" % i) for i in range(1001)]),
        "1001 writes in one request; the limit is 1000 (max_batch_entries): split it",
    ),
    (
        "PutBatch of 17 MB",  # past 16 MiB, within the message limit (node.api.limits)
        "PutBatch",
        pb.PutBatchRequest(writes=[W(b"k%d" % i, b"v" * 1_000_000) for i in range(17)]),
        "bytes in one request; the limit is",
    ),
    (
        "PutBatch with op 7",
        "PutBatch",
        pb.PutBatchRequest(writes=[W(), W(b"j", op=7)]),
        "unknown op 7",
    ),
    (
        "PutBatch DELETE with a value",
        "PutBatch",
        pb.PutBatchRequest(writes=[W(b"j", b"v", op=pb.DELETE)]),
        "a DELETE carries no value",
    ),
    (
        "PutBatch with one bad write among good ones",
        "PutBatch",
        pb.PutBatchRequest(writes=[W(b"a"), W(b""), W(b"b")]),
        "key must not be empty",
    ),
]


@pytest.mark.parametrize(("case", "method", "request_", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_client_input_is_refused_and_changes_nothing(node, case, method, request_, text):
    before = node.fingerprint()
    with pytest.raises(grpc.RpcError) as err:
        getattr(node.kv, method)(request_, timeout=10)
    assert err.value.code() == INVALID, err.value
    assert text in err.value.details()
    assert node.fingerprint() == before


def test_a_message_past_the_nodes_message_limit_is_refused_before_it_is_handled(node):
    """A request larger than any the node accepts (node.api.limits: a PutBatch at its
    limits) is refused by gRPC as it arrives: RESOURCE_EXHAUSTED, nothing changed."""
    before = node.fingerprint()
    big = pb.PutBatchRequest(writes=[W(b"k%d" % i, b"v" * (1 << 20)) for i in range(20)])
    with pytest.raises(grpc.RpcError) as err:
        node.kv.PutBatch(big, timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value
    assert "larger than max" in err.value.details()
    assert node.fingerprint() == before


def test_a_scan_of_more_than_4_mib_comes_in_pages(node):
    for batch in range(8):
        writes = [
            pb.Write(op=pb.PUT, key=b"s/%03d-%d" % (batch, i), value=b"v" * 100_000)
            for i in range(10)
        ]
        node.run(node.node.write_batch(writes))
    first = node.kv.Scan(pb.ScanRequest(prefix=b"s/"), timeout=10)
    assert first.next_key and 0 < len(first.items) < 80
    keys, start = [], b""
    while True:
        page = node.kv.Scan(pb.ScanRequest(prefix=b"s/", start=start), timeout=10)
        keys += [i.key for i in page.items]
        if not page.next_key:
            break
        start = page.next_key
    assert keys == sorted({b"s/%03d-%d" % (b, i) for b in range(8) for i in range(10)})
