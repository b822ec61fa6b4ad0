"""What the cluster tool needs from whatever runs its processes: the ``Backend`` protocol.

A backend runs a cluster's node processes and its link proxy. ``cluster.render``
describes them as ``ProcessSpec``s (a command, a working directory, an
environment); a backend records them (``apply``), starts its own machinery
(``up``), runs, stops, kills, pauses and resumes each by name, reports each as a
``ProcessInfo``, and tears everything down verifying nothing is left (``down``).
Verbs, the nemesis and the bench talk to ``cluster.api.Cluster``, which talks to a
backend only through this protocol, so another one (containers) slots in beside
``cluster.backends.supervisor`` without touching them.

Process states use supervisord's names, which are general enough for any
runner: ``RUNNING``, ``STARTING``, ``STOPPING``, ``STOPPED``, ``EXITED``,
``FATAL``, ``BACKOFF``; plus ``DOWN`` (nothing runs under that name) and
``UNSUPERVISED`` (it runs, but its supervisor died).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

RUNNING = "RUNNING"
DOWN = "DOWN"
UNSUPERVISED = "UNSUPERVISED"
FAILED_STATES = ("FATAL", "EXITED", "BACKOFF")  # it will not come up by itself


class BackendError(Exception):
    """A problem with the machinery that runs the processes, worded so a person can act on it."""


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: a node or the link proxy."""

    name: str
    command: list[str]
    directory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    first: bool = False  # start before the others: the proxy the nodes dial
    stop_timeout: int = 10  # seconds a graceful stop may take before the process is killed
    ports: tuple[int, ...] = ()  # ports it listens on that this machine must reach
    alias: str = ""  # its name on a cluster network (containers); "" means ``name``
    # restarted by its backend when it dies (the link proxy: infrastructure, not a subject
    # of the test; a node's crash must stay visible, so nodes never are)
    restart: bool = False


@dataclass(frozen=True)
class ProcessInfo:
    """A process as its backend sees it now."""

    name: str
    state: str
    pid: int = 0  # the OS pid on this machine; 0 when it does not run
    ident: str = ""  # the backend's own handle: a pid, a container id

    @property
    def running(self) -> bool:
        return self.state in (RUNNING, UNSUPERVISED)


class Backend(Protocol):
    """Runs one cluster's processes; every method may raise ``BackendError``."""

    def apply(self, specs: Sequence[ProcessSpec]) -> None:
        """Record what to run (e.g. render a config); starts nothing."""
        ...

    def reshape(self, specs: Sequence[ProcessSpec]) -> None:
        """Record ``specs`` and make running machinery match them: processes new in them
        are added (not started), processes no longer in them are stopped and dropped;
        the others are not touched (``cluster add``/``remove`` on a cluster that is up)."""
        ...

    def is_up(self) -> bool:
        """Does the backend's own machinery (e.g. supervisord) answer?"""
        ...

    def up(self, progress: Callable[[str], None] | None = None) -> None:
        """Start the backend's own machinery, clearing leftovers of an earlier run;
        ``progress`` hears about slow steps (e.g. building an image)."""
        ...

    def start(self, name: str, wait: bool = True) -> None:
        """Start ``name``; running already is fine. ``wait``: until it survived its start."""
        ...

    def stop(self, name: str) -> None:
        """Stop ``name`` gracefully (SIGTERM, then a kill after its stop timeout)."""
        ...

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` and return once it is dead; it is not restarted."""
        ...

    def pause(self, name: str) -> None:
        """Freeze ``name`` (SIGSTOP)."""
        ...

    def resume(self, name: str) -> None:
        """Thaw ``name`` (SIGCONT)."""
        ...

    def info(self, name: str) -> ProcessInfo:
        """``name`` now."""
        ...

    def processes(self) -> dict[str, ProcessInfo]:
        """Every process by name; when the machinery is down, what it left running."""
        ...

    def pids(self) -> list[int]:
        """Every OS pid running for this cluster, the backend's own daemon included."""
        ...

    def daemon_pid(self) -> int | None:
        """The supervising daemon's pid, if it has one on this machine."""
        ...

    def log_path(self, name: str) -> Path:
        """A file holding ``name``'s output, current as of this call."""
        ...

    def address(self, name: str, port: int) -> str:
        """Where this machine reaches ``port`` of process ``name``."""
        ...

    def down(self, purge: bool = False) -> list[str]:
        """Stop everything and verify nothing is left; returns the leftovers it had to stop
        (of a supervisor that had died). Raises ``BackendError`` if something survived.
        ``purge``: also delete data kept outside the state directory (volumes)."""
        ...
