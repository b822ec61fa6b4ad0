"""One lock per cluster for every verb that changes its members, processes or faults.

Every verb is its own process and reads ``cluster.json`` before it writes it back, so two
such verbs at once (``remove`` beside ``add``) would each undo the other. The lock is an
``flock`` on ``<state dir>/.verb.lock``: the kernel drops it when its holder dies, so it
never outlives a crash. The holder writes who it is into the file, and a verb that finds
the lock taken says so ("busy: add node-d by pid 4242 since 12:03:04") and exits 2, or,
asked to (``--wait``), waits for it within its own timeout. A process that holds the lock
may take it again (the nemesis kills and restarts nodes through the same verbs); another
thread of that process waits or is refused like another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from cluster.errors import ClusterError
from cluster.files import open_private, private_dir

LOCK_FILE = ".verb.lock"
_POLL = 0.05
_held: dict[str, tuple[int, int, int]] = {}  # state dir -> (fd, depth, thread ident)
_guard = threading.Lock()


class Busy(ClusterError):
    """Another verb holds the cluster; the message names it and what to do."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


def holder(state_dir: Path) -> dict[str, Any]:
    """Who holds (or last held) the lock, as it wrote itself down ({} if unknown)."""
    try:
        raw = json.loads((state_dir / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"{info.get('verb', 'a verb')} by pid {info.get('pid', '?')} since {since}"


def _busy(state_dir: Path, waited: float | None) -> Busy:
    info = holder(state_dir)
    name = state_dir.name
    what = (
        f"still held after waiting {waited:g}s"
        if waited is not None
        else "wait for it, or run again with --wait"
    )
    return Busy(f"busy: {_describe(info)} holds cluster {name}: {what}", info)


def _try(state_dir: Path, verb: str) -> bool:
    """Take the lock (or deepen this thread's hold); False when someone else has it."""
    key = str(state_dir)
    me = threading.get_ident()
    with _guard:
        if key in _held:
            fd, depth, owner = _held[key]
            if owner != me:
                return False
            _held[key] = (fd, depth + 1, owner)
            return True
        private_dir(state_dir)
        fd = open_private(state_dir / LOCK_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        info = {"pid": os.getpid(), "verb": verb, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held[key] = (fd, 1, me)
        return True


def _release(state_dir: Path) -> None:
    key = str(state_dir)
    with _guard:
        fd, depth, owner = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1, owner)
            return
        del _held[key]
        os.close(fd)  # closing the only descriptor releases the flock


@contextlib.contextmanager
def hold(state_dir: Path, verb: str, wait: float | None = None) -> Iterator[float]:
    """Hold cluster ``state_dir``'s lock for ``verb``; yields the seconds spent waiting.
    ``wait`` None: ``Busy`` at once if it is taken; else wait up to that many seconds."""
    start = time.monotonic()
    while not _try(state_dir, verb):
        if wait is None or time.monotonic() - start >= wait:
            raise _busy(state_dir, wait)
        time.sleep(_POLL)  # polling a lock another process holds: not a test's sleep
    try:
        yield time.monotonic() - start
    finally:
        _release(state_dir)


# Long runs that undo what they set when told to stop (SIGTERM): ``down`` stops them first.
STOPPABLE = ("nemesis", "bench")


@contextlib.contextmanager
def hold_for_down(state_dir: Path, wait: float | None, timeout: float) -> Iterator[float]:
    """The lock for ``down``: a nemesis or bench holding it is sent SIGTERM (it heals what
    it set and lets go) and awaited up to ``timeout``; any other holder is ``Busy``."""
    try:
        with hold(state_dir, "down", wait) as waited:
            yield waited
            return
    except Busy as exc:
        pid = exc.holder.get("pid")
        verb = str(exc.holder.get("verb", ""))
        if not verb.startswith(STOPPABLE) or not isinstance(pid, int) or pid == os.getpid():
            raise
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    with hold(state_dir, "down", timeout) as waited:
        yield waited


def held_here(state_dir: Path) -> bool:
    """Does this process hold ``state_dir``'s lock?"""
    with _guard:
        return str(state_dir) in _held


class _Locked(Protocol):
    dir: Path
    lock_wait: float | None

    def reload(self) -> None: ...


P = ParamSpec("P")
R = TypeVar("R")


def exclusive(verb: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A ``Cluster`` method run under the cluster's lock. Its ``node`` argument names the
    verb for others; time spent waiting for the lock comes off its ``timeout``."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(method)

        @functools.wraps(method)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            me: _Locked = bound.arguments["self"]
            node = bound.arguments.get("node")
            what = f"{verb} {node}" if isinstance(node, str) else verb
            fresh = not held_here(me.dir)
            with hold(me.dir, what, me.lock_wait) as waited:
                if fresh:  # what it read before holding the lock may be stale by now
                    me.reload()
                timeout = bound.arguments.get("timeout")
                if waited and isinstance(timeout, (int, float)):
                    bound.arguments["timeout"] = max(0.1, timeout - waited)
                return method(*bound.args, **bound.kwargs)

        return run

    return wrap
