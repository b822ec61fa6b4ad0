"""Invariants of the real write and apply path (Replica over a LevelDB Store on a temp dir).

Each test here was written against a planted bug that the rest of the suite missed:
- the apply path no longer observing received HLCs (all processes share one wall clock,
  so only a remote clock that is ahead shows it);
- a write acknowledged before its WriteBatch commits, or a failed commit still acknowledged.
"""

from __future__ import annotations

import asyncio

import pytest

from node.clock import pack, unpack, wall_ms
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.replica import CommitFailed, Replica

pytestmark = pytest.mark.unit

MINUTE_MS = 60_000


def replica(tmp_path, name: str = "node-a") -> Replica:
    return Replica(NodeConfig(node_id=name, data_dir=tmp_path / name, cluster="inv").validate())


def put(key: bytes, value: bytes) -> pb.Write:
    return pb.Write(op=pb.PUT, key=key, value=value)


def test_a_remote_entry_ahead_of_our_clock_is_observed_so_a_later_local_write_wins(tmp_path):
    ahead = pack(wall_ms() + MINUTE_MS, 5)
    remote = pb.Entry(origin="node-b", seq=1, hlc=ahead, op=pb.PUT, key=b"k", value=b"remote")

    async def main() -> tuple[pb.Version, Replica]:
        r = replica(tmp_path)
        assert r.apply_remote([remote], "node-b") == 1
        (version,) = await r.write([put(b"k", b"local")])
        return version, r

    version, r = asyncio.run(main())
    try:
        assert version.hlc > ahead, (unpack(version.hlc), unpack(ahead))
        assert r.get(b"k").value == b"local"
        assert r.get(b"k").version == (version.hlc, r.origin)
    finally:
        r.store.close()


def test_the_clock_stays_past_observed_remote_time_across_a_restart(tmp_path):
    ahead = pack(wall_ms() + MINUTE_MS, 0)
    r = replica(tmp_path)
    r.apply_remote(
        [pb.Entry(origin="node-b", seq=1, hlc=ahead, op=pb.PUT, key=b"k", value=b"x")], "node-b"
    )
    r.store.close()

    async def main() -> pb.Version:
        r2 = replica(tmp_path)
        try:
            return (await r2.write([put(b"k", b"after-restart")]))[0]
        finally:
            r2.store.close()

    assert asyncio.run(main()).hlc > ahead


def test_a_write_is_acknowledged_only_after_its_batch_is_committed(tmp_path):
    async def main() -> None:
        r = replica(tmp_path)
        commit, commits = r.store.commit, []
        pending: list[asyncio.Task] = []

        def watched_commit(entries, sync=False):
            # At the moment of the WriteBatch, no writer may have been answered yet.
            commits.append([t.done() for t in pending])
            return commit(entries, sync=sync)

        r.store.commit = watched_commit
        pending.extend(asyncio.create_task(r.write([put(b"k%d" % i, b"v")])) for i in range(5))
        versions = await asyncio.gather(*pending)
        assert commits == [[False] * 5], commits  # one group commit, nobody answered before it
        for i, (v,) in enumerate(versions):
            assert r.get(b"k%d" % i).version == (v.hlc, v.origin)  # read-your-write
        r.store.close()

    asyncio.run(main())


def test_a_failed_commit_fails_every_writer_and_acknowledges_nothing(tmp_path):
    async def main() -> None:
        r = replica(tmp_path)
        (before,) = await r.write([put(b"kept", b"1")])
        vv, digest = dict(r.vv), r.store.digest

        def disk_full(entries, sync=False):
            raise OSError(28, "No space left on device")

        commit, r.store.commit = r.store.commit, disk_full
        writers = [r.write([put(b"lost", b"x")]), r.write([put(b"a", b"1"), put(b"b", b"2")])]
        results = await asyncio.gather(*writers, return_exceptions=True)
        for res in results:
            assert isinstance(res, CommitFailed), res
            assert "No space left on device" in str(res) and "nothing was written" in str(res)
        assert r.vv == vv and r.store.digest == digest
        assert r.get(b"lost") is None and r.get(b"a") is None
        assert r.stats["local_writes"] == 1
        # The node keeps serving: the next write after the fault takes the next seq.
        r.store.commit = commit
        (after,) = await r.write([put(b"lost", b"y")])
        assert after.seq == before.seq + 1
        r.store.close()

    asyncio.run(main())
