"""Server streams that cannot make the node hold what their client does not read.

grpcio's aio server accepts a message from a handler once its transport took it, and
takes the next only when the client's flow-control window moved: a client that never
reads leaves each stream with about one message in the transport and one waiting. An
async-generator handler cannot be interrupted in that wait, so its stream, and every
queue behind it, lives as long as the connection. ``pump`` sends with
``context.write`` instead: a write that does not complete within ``stall_s`` (or once
``stop`` is set, say a Watch over its byte budget) ends the stream with
RESOURCE_EXHAUSTED and a reason; the handler's own ``finally`` runs at once, so what
the stream held is freed, and the status follows the one message gRPC still holds.

``trim_soon`` gives freed memory back to the system after streams end: glibc keeps
what the gRPC threads freed in their arenas otherwise (measured: 13 MiB per ended Watch
stream kept for good).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import grpc

log = logging.getLogger("node.api.sending")

TRIM_DELAY_S = 0.5  # one malloc_trim for the streams that end within this long


class Stalled(Exception):
    """A stream's client did not take what was sent to it."""


async def _sent(
    write: asyncio.Future[Any], stall_s: float | None, stop: asyncio.Event | None
) -> bool:
    """Wait for ``write``: False if it did not complete within ``stall_s`` or ``stop`` was
    set first. It is never cancelled: gRPC takes no status while a message is pending
    (the abort would fail and the client would wait forever), so the caller waits for
    it before ending the call."""
    waits: set[asyncio.Future[Any]] = {write}
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopped is not None:
        waits.add(stopped)
    try:
        await asyncio.wait(waits, timeout=stall_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if stopped is not None:
            stopped.cancel()
    if write.done():
        write.result()  # a failed send (the client left) ends the call with it
        return stop is None or not stop.is_set()
    return False


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def pump(
    stream: AsyncGenerator[Any, None],
    context: Any,
    stall_s: float | None,
    why: Callable[[], str],
    stop: asyncio.Event | None = None,
) -> None:
    """Send what ``stream`` yields. A client that takes nothing for ``stall_s`` (None:
    no limit), ``stop`` set, or the stream raising ``Stalled``, ends the call
    RESOURCE_EXHAUSTED with ``why()``: the stream is closed at once (what it held is
    freed), the status follows the message gRPC still holds (a client that never reads
    again is dropped by keepalive). Cancellation (the client left, the server stops)
    ends it quietly, as the normal end of a stream."""
    write: asyncio.Future[Any] | None = None
    try:
        async with aclosing(stream) as messages:
            async for msg in messages:
                if stop is not None and stop.is_set():
                    raise Stalled
                write = asyncio.ensure_future(context.write(msg))
                write.add_done_callback(_retrieved)  # a client gone mid-send: not an error
                if await _sent(write, stall_s, stop):
                    continue
                reason = why()
                await messages.aclose()
                await write
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, reason)
    except Stalled:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, why())
    except asyncio.CancelledError:
        if write is not None and not write.done():  # as grpc says it (node.observability.logfmt)
            log.info("a client went away while it was being sent to")
        else:
            log.debug("stream cancelled")


_LIBC: Any = None
_last = [0.0]  # when the last trim was scheduled (monotonic)


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            _LIBC = lib if lib is not None and hasattr(lib, "malloc_trim") else False
        except OSError:
            _LIBC = False
    return _LIBC


def _trim() -> None:
    _libc().malloc_trim(0)


def trim_soon() -> None:
    """Return freed heap to the system shortly (once for a burst of ended streams)."""
    now = time.monotonic()
    if now - _last[0] < TRIM_DELAY_S or not _libc():
        return
    _last[0] = now
    asyncio.get_running_loop().call_later(TRIM_DELAY_S, _trim)
