"""Tombstone grace on embedded nodes (real LevelDB, real gRPC links): a tombstone every
member has acknowledged is still kept while it is younger than ``tombstone_grace_ms``,
the margin for writers no member knows of yet, and collected once older.

The nodes' clocks are moved the way ``Admin.SetClockOffset`` moves them, so the age is
set, not waited for; the test runs the compactor's collection itself (its own loop is
slowed to an hour) and only once every other condition allows dropping the tombstone."""

from __future__ import annotations

import asyncio

import pytest

from node.app import Node
from node.clock import unpack
from node.clock import wall_ms as real_wall_ms
from tests.integration import embedded
from tests.integration.embedded import running_pair, until

pytestmark = pytest.mark.integration

GRACE = 600_000  # ms; half of it is more than any pause of this test


def acknowledged_by_all(node: Node, origin: str, seq: int, hlc: int) -> bool:
    """Everything but the grace lets ``node`` drop the tombstone ``(origin, seq, hlc)``:
    its GC floor is at or past it and every member acknowledged it."""
    compactor = node.replica.compactor
    members = compactor.members()
    return compactor.floor() >= hlc and all(
        ack is not None and ack.vv.get(origin, 0) >= seq for ack in members.values()
    )


def age_to(nodes: tuple[Node, ...], hlc: int, age_ms: int) -> None:
    """Move every node's physical clock so the entry dated ``hlc`` is ``age_ms`` old."""
    offset = unpack(hlc)[0] + age_ms - real_wall_ms()
    for n in nodes:
        n.replica.clock_offset_ms = offset


def test_a_tombstone_acked_by_every_member_is_kept_within_the_grace_and_collected_after(
    tmp_path,
):
    def config(name: str):
        return embedded.config(
            tmp_path, name, "grace", tombstone_grace_ms=GRACE, compact_every_ms=3_600_000
        )

    async def main():
        async with running_pair(config("a"), config("b")) as (a, b):
            await kept_then_collected(a, b)

    async def kept_then_collected(a: Node, b: Node) -> None:
        await a.put(b"gone", b"v")
        tomb = await a.delete(b"gone")
        for n in (a, b):
            await until(
                lambda n=n: acknowledged_by_all(n, tomb.origin, tomb.seq, tomb.hlc),
                30,
                f"{n.config.node_id}: every member to acknowledge the tombstone past its floor",
            )
        age_to((a, b), tomb.hlc, GRACE // 2)
        for n in (a, b):
            await n.replica.compactor.collect()
            st = n.status()
            assert st.tombstones == 1 and st.gc_horizon == 0, (
                f"{n.config.node_id} collected a tombstone younger than the grace: {st}"
            )
        age_to((a, b), tomb.hlc, GRACE + GRACE // 2)
        for n in (a, b):
            await n.replica.compactor.collect()
            st = n.status()
            assert st.tombstones == 0 and st.gc_horizon == tomb.hlc, n.config.node_id
            assert n.get(b"gone") is None

    asyncio.run(main())
