"""Hostile catalogue: storage that fails under a node (real LevelDB, real gRPC).

A storage error turns health NOT_SERVING and fails writes with UNAVAILABLE and a
reason a person can act on; nothing acknowledged is lost; a damaged data directory is
one clear refusal at start, never a node that silently starts empty over its data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.wait import wait_for
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.storage.store import StorageError, Store
from tests.hostile.embedded import ThreadedNode

pytestmark = pytest.mark.component

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DIAGNOSTICS = ("LOG", "LOG.old", "LOCK")


def config(data: Path) -> NodeConfig:
    return NodeConfig(node_id="node-a", data_dir=data, cluster="hostile", watermark_every_ms=50)


def health(n: ThreadedNode) -> int:
    stub = health_pb2_grpc.HealthStub(n.channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status


def put(n: ThreadedNode, key: bytes, value: bytes = b"v") -> pb.Version:
    return n.kv.Put(pb.PutRequest(key=key, value=value), timeout=10).version


def small_disk(tmp_path: Path, size: str) -> Iterator[Path]:
    """A file system of its own of ``size`` (tmpfs): a disk that really fills up."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the disk-full tests mount a tmpfs and need root (CI runs as root)")
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Path]:
    yield from small_disk(tmp_path, "2m")


@pytest.fixture
def tmpfs4(tmp_path) -> Iterator[Path]:
    yield from small_disk(tmp_path, "4m")


def test_disk_full_fails_writes_unavailable_turns_not_serving_and_loses_nothing(tmpfs, tmp_path):
    n = ThreadedNode(config(tmpfs / "a"))
    acked: list[bytes] = []
    try:
        with pytest.raises(grpc.RpcError) as err:
            for i in range(100):  # 100 x 64 KiB cannot fit in 2 MiB
                put(n, b"k%03d" % i, b"v" * (64 << 10))
                acked.append(b"k%03d" % i)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
        assert "nothing was written" in err.value.details()
        assert "space" in err.value.details().lower(), err.value.details()
        wait_for(lambda: health(n) == NOT_SERVING, 10, "health NOT_SERVING after disk full")
        assert acked, "some writes fit before the disk was full"
    finally:
        n.close()  # a full disk may fail the last checkpoint: logged, not raised
    # Every acknowledged write is there when the node comes back on a disk with room.
    roomy = tmp_path / "roomy"
    shutil.copytree(tmpfs / "a", roomy)
    n = ThreadedNode(config(roomy))
    try:
        assert health(n) == SERVING
        for key in acked:
            assert n.kv.Get(pb.GetRequest(key=key), timeout=5).found, key
        put(n, b"after", b"1")
    finally:
        n.close()


def test_writes_acknowledged_after_the_disk_had_room_again_survive_a_restart(tmpfs4, tmp_path):
    """A LevelDB write that fails part-way (disk full) leaves a torn record in its log,
    and LevelDB goes on appending after it: every later write, acknowledged once space
    was freed, was lost when the log was replayed at the next start (all 50 here). The
    node now refuses writes after a failed one until it has reopened LevelDB (which
    replays the log and starts a new one) and only then serves again."""
    filler = tmpfs4 / "filler"
    filler.write_bytes(b"\0" * (2_500 << 10))  # what the operator frees later
    n = ThreadedNode(config(tmpfs4 / "a"))
    acked: list[bytes] = []
    try:
        with pytest.raises(grpc.RpcError) as err:
            for i in range(100):
                put(n, b"k%03d" % i, b"v" * (64 << 10))
                acked.append(b"k%03d" % i)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
        with pytest.raises(grpc.RpcError) as err:  # it would fit, after a torn record
            put(n, b"tiny", b"1")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
        assert "an earlier LevelDB write failed" in err.value.details()
        filler.unlink()
        wait_for(lambda: health(n) == SERVING, 20, "health SERVING once the disk has room")
        for i in range(50):
            put(n, b"after%03d" % i, b"small")
            acked.append(b"after%03d" % i)
    finally:
        n.close()
    roomy = tmp_path / "roomy"
    shutil.copytree(tmpfs4 / "a", roomy)
    n = ThreadedNode(config(roomy))
    try:
        lost = [k for k in acked if not n.kv.Get(pb.GetRequest(key=k), timeout=5).found]
        assert lost == [], f"{len(lost)} of {len(acked)} acknowledged writes lost"
    finally:
        n.close()


def test_a_data_directory_removed_under_a_running_node(tmp_path):
    n = ThreadedNode(config(tmp_path / "a"))
    try:
        put(n, b"before")
        shutil.rmtree(tmp_path / "a")
        with pytest.raises(grpc.RpcError) as err:
            put(n, b"after")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "was removed or replaced while the node ran" in err.value.details()
        wait_for(lambda: health(n) == NOT_SERVING, 10, "health NOT_SERVING")
    finally:
        n.close()  # stops cleanly even with its directory gone


def test_a_failed_commit_turns_health_not_serving_until_storage_works_again(tmp_path):
    n = ThreadedNode(config(tmp_path / "a"))
    store = n.node.replica.store
    commit = store.commit

    def io_error(entries, sync=False):
        raise OSError(5, "Input/output error")

    try:
        store.commit = io_error
        with pytest.raises(grpc.RpcError) as err:
            put(n, b"k")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "Input/output error" in err.value.details()
        wait_for(lambda: health(n) == NOT_SERVING, 10, "health NOT_SERVING")
        assert "Input/output error" in n.call(lambda: n.node.replica.health.error)
        store.commit = commit
        wait_for(lambda: health(n) == SERVING, 10, "health SERVING once storage works")
        assert put(n, b"k").seq == 1  # nothing of the failed write was kept
    finally:
        n.close()


def damage_current_missing(db: Path) -> str:
    (db / "CURRENT").unlink()
    return "CURRENT is missing but the directory holds data"


def damage_current_garbage(db: Path) -> str:
    (db / "CURRENT").write_text("MANIFEST-999999\n")
    return "is corrupt"


def damage_manifest_truncated(db: Path) -> str:
    for manifest in db.glob("MANIFEST-*"):
        manifest.write_bytes(manifest.read_bytes()[:7])
    return "is corrupt"


@pytest.mark.parametrize(
    "damage", [damage_current_missing, damage_current_garbage, damage_manifest_truncated]
)
def test_a_damaged_leveldb_is_refused_at_start_and_left_as_it_was(tmp_path, damage):
    store = Store(tmp_path / "a")
    store.set_meta(b"x", b"y")
    store.close()
    db = tmp_path / "a" / "leveldb"
    text = damage(db)

    def data_files() -> list[tuple[str, bytes]]:  # LevelDB's own LOG/LOCK may change
        return sorted((p.name, p.read_bytes()) for p in db.iterdir() if p.name not in DIAGNOSTICS)

    files = data_files()
    with pytest.raises(StorageError, match=text) as err:
        Store(tmp_path / "a")
    assert str(db) in str(err.value) and "\n" not in str(err.value)
    assert data_files() == files
