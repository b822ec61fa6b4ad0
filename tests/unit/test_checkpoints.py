"""Watermark checkpoints taken off the event loop still never run ahead of the disk, and
a node closing while one is in its thread waits for it (LevelDB is not closed under it)."""

from __future__ import annotations

import asyncio

import pytest

from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from node.replica import Replica
from node.storage.watermarks import Watermarks

pytestmark = pytest.mark.unit


def replica(tmp_path, every: int = 10_000) -> Replica:
    cfg = NodeConfig(
        node_id="node-a", data_dir=tmp_path / "a", cluster="ck", watermark_every_entries=every
    )
    return Replica(cfg.validate())


def writes(n: int, tag: bytes = b"k") -> list[pb.Write]:
    return [pb.Write(op=pb.PUT, key=tag + b"%d" % i, value=b"v") for i in range(n)]


def test_an_off_loop_checkpoint_records_the_vv_it_read_before_the_barrier(tmp_path):
    async def main() -> tuple[dict[str, int], dict[str, int]]:
        r = replica(tmp_path)
        await r.write(writes(5))
        before = dict(r.vv)
        await r.checkpoints.off_loop()
        saved = Watermarks(tmp_path / "a").load()
        await r.close()
        return before, saved

    before, saved = asyncio.run(main())
    assert saved == before and sum(before.values()) == 5


def test_enough_entries_start_a_checkpoint_and_close_waits_for_it(tmp_path):
    async def main() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        r = replica(tmp_path, every=3)  # no periodic checkpoints: start() is not called
        await r.write(writes(4))  # past watermark_every_entries: one starts in a thread
        await r.checkpoints.settle()
        first = Watermarks(tmp_path / "a").load()
        await r.write(writes(2, b"j"))
        await r.close()  # waits for any thread, then takes the final checkpoint
        return first, dict(r.vv), Watermarks(tmp_path / "a").load()

    first, vv, saved = asyncio.run(main())
    assert sum(first.values()) == 4, "the entry count started a checkpoint by itself"
    assert saved == vv and sum(vv.values()) == 6
