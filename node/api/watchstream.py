"""The ``Watch`` stream: a watcher's commits as ``Changes`` messages, bounded in bytes.

Each message holds at most ``WATCH_BATCH`` commits and about ``MESSAGE_BYTES`` of
entries (one larger entry alone), so what gRPC holds for a client that does not read
is one or two such messages; the watcher counts them as held until the next message
went out (``node.replication.watch``). A watcher overflowed (its client fell behind its byte
budget, or held the most of every Watch when they were over theirs) ends its stream
with RESOURCE_EXHAUSTED at once, even from a send stuck on a client that never reads
(``node.api.sending.pump``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import grpc

from node.api.sending import Stalled, pump, trim_soon
from node.pb import remesh_pb2 as pb
from node.replica import Replica
from node.replication.recent import entry_bytes
from node.replication.watch import (
    WATCH_BYTES,
    WATCH_QUEUE,
    WATCH_TOTAL_BYTES,
    Item,
    TooManyWatchers,
    Watcher,
)

WATCH_BATCH = 64  # commits per Watch message at most
MESSAGE_BYTES = 1 << 20  # entry bytes per Watch message, about (one larger entry alone)
FELL_BEHIND = (
    f"this Watch stream fell behind: its client left {WATCH_QUEUE} commits or "
    f"{WATCH_BYTES >> 20} MiB unread (or held the most when every Watch of the node "
    f"together held {WATCH_TOTAL_BYTES >> 20} MiB); watch again and read faster"
)


def messages(items: list[Item]) -> Iterator[tuple[pb.Changes, int]]:
    """``Changes`` messages of about ``MESSAGE_BYTES`` each, with their entry bytes."""
    msg, size = pb.Changes(), 0
    for item in items:
        if item is None:
            break
        picked, applied_ns = item
        for entry, won in picked:
            esize = entry_bytes(entry)
            if msg.changes and size + esize > MESSAGE_BYTES:
                yield msg, size
                msg, size = pb.Changes(), 0
            change = msg.changes.add(won=won, applied_unix_ns=applied_ns)
            change.entry.CopyFrom(entry)
            size += esize
    if msg.changes:
        yield msg, size


async def changes(
    watcher: Watcher, context: Any, linger_s: float
) -> AsyncGenerator[pb.Changes, None]:
    behind = 0  # bytes of the message sent last: gRPC may hold it until the next is sent
    while True:
        items, _ = await watcher.take(WATCH_BATCH)
        if watcher.overflowed:
            raise Stalled
        for msg, size in messages(items):
            yield msg  # resumed once gRPC took it, so the one before has left
            watcher.release(behind)
            behind = size
        if None in items:
            if watcher.interrupted:
                await context.abort(grpc.StatusCode.ABORTED, watcher.interrupted)
            return
        if linger_s:
            await asyncio.sleep(linger_s)  # like replication: fewer messages


async def serve_watch(replica: Replica, prefix: bytes, context: Any, linger_s: float) -> None:
    if replica.snapshot_from:  # its records change state without events
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"a snapshot from {replica.snapshot_from} is being merged and its "
            f"records are not sent as events; watch again once it is done "
            f"(cluster status shows it)",
        )
    try:
        watcher = replica.watchers.add(prefix)
    except TooManyWatchers as exc:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

    def fell_behind() -> str:
        replica.metrics.reject("fell_behind")
        return FELL_BEHIND

    try:
        await pump(changes(watcher, context, linger_s), context, None, fell_behind, watcher.ended)
    finally:
        replica.watchers.remove(watcher)
        trim_soon()
