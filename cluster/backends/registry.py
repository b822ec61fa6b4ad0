"""Every backend by name, with the traits the rest of the tool needs (issue 26).

Nothing outside ``cluster/backends/`` names a backend: the topology, the state file,
rendering, the verbs and the logs ask this registry. A new backend is one package
beside ``supervisor/`` and ``docker/`` implementing ``base.Backend``, plus one line in
``BACKENDS``. The implementation is imported only when a cluster uses it (the Docker
client is not loaded to run supervisord).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DEFAULT = "supervisor"


@dataclass(frozen=True)
class Traits:
    name: str
    implementation: str  # "module:Class", a ``base.Backend`` taking the state directory
    # where processes run: on this machine (addresses on loopback, paths as they are) or
    # in containers (a cluster network, files copied in): ``cluster.render.placement``
    placement: Literal["local", "containers"]
    id_column: str  # the status table's heading for ``ProcessInfo.ident``
    ports_after_start: bool  # published ports are known only once the processes run
    log_poll_s: float  # how often ``logs --follow`` asks for more
    logs_copied: bool  # a log file is a copy fetched on request (ask anew on each poll)
    pause_means: str  # what ``pause`` does, for messages
    resume_means: str  # and ``resume``
    # ``module:function(progress) -> str | None`` run before ``up``: e.g. build an image;
    # returns a line to show (what it did), or None
    prepare: str | None = None
    # a file the backend leaves in the state directory, by which a cluster whose
    # cluster.json cannot be read is known to be its (``cluster.salvage``)
    marker: str | None = None
    verbs: str | None = None  # a module whose ``register(add)`` adds the backend's own verbs

    def make(self, state_dir: Path, **kwargs: Any) -> Any:
        """The backend for the cluster in ``state_dir`` (a ``base.Backend``)."""
        return _load(self.implementation)(state_dir, **kwargs)

    def run_prepare(self, progress: Callable[[str], None]) -> str | None:
        return _load(self.prepare)(progress) if self.prepare else None


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


BACKENDS: dict[str, Traits] = {
    t.name: t
    for t in (
        Traits(
            "supervisor",
            "cluster.backends.supervisor:SupervisorBackend",
            placement="local",
            id_column="PID",
            ports_after_start=False,
            log_poll_s=0.2,  # following a file for new lines, like tail -f
            logs_copied=False,
            pause_means="SIGSTOP",
            resume_means="SIGCONT",
        ),
        Traits(
            "docker",
            "cluster.backends.docker:DockerBackend",
            placement="containers",
            id_column="CONTAINER",
            ports_after_start=True,
            log_poll_s=1.0,  # a container's log is fetched whole from the engine: less often
            logs_copied=True,
            pause_means="the cgroup freezer",
            resume_means="thawed from the cgroup freezer",
            prepare="cluster.backends.docker.image:prepare",
            marker="docker.json",
            verbs="cluster.backends.docker.verbs",
        ),
    )
}
NAMES = tuple(BACKENDS)


def traits(name: str) -> Traits:
    """The traits of backend ``name``; ``ValueError`` naming the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join(NAMES)
        raise ValueError(f"unknown backend {name!r}; expected one of: {known}") from None
