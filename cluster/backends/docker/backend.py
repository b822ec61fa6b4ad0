"""The Docker ``Backend``: every node and the link proxy as a container on one network.

- one user-defined network per cluster, named ``remesh-<cluster>-<uid>`` (unique per state
  directory, so parallel runs never collide); each process joins it under its alias (a
  node's name, the proxy's ``remesh-proxy``), which the rendered configs dial;
- each process's ``/data`` is a named volume: kept by ``down``, removed by ``down --purge``;
- the ports this machine needs (a node's gRPC port, the proxy's control port) are
  published on ports Docker picks; ``docker.json`` records them for ``address``, and a
  container started again is re-created pinned to them, so addresses survive restarts;
- kill is ``docker kill`` (SIGKILL), stop ``docker stop`` (SIGTERM, then SIGKILL), pause
  ``docker pause`` (the cgroup freezer); logs are the containers' own, copied into
  ``logs/<name>.log`` when asked for and at ``down``.

The docker SDK (which testcontainers wraps) is used directly: every CLI verb is its own
process, so containers are found by name and label, not held by a context manager, and
the node's files must be copied in between create and start.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cluster.backends.base import DOWN, RUNNING, BackendError, ProcessInfo, ProcessSpec
from cluster.backends.docker.containers import archive, create_args
from cluster.backends.docker.engine import PROCESS, UID, Meta, client, engine_host
from cluster.backends.docker.image import ImageError, build_image
from cluster.files import atomic_write, private_dir
from cluster.state import ClusterState
from cluster.wait import WaitTimeout, wait_for

_STATES = {"running": RUNNING, "paused": RUNNING, "restarting": "STARTING", "created": "STOPPED"}
PORT_TAKEN = ("port is already allocated", "address already in use")


def _state(container: Any) -> str:
    st = container.attrs["State"]
    if st["Status"] == "exited":
        return "STOPPED" if st.get("ExitCode") == 0 else "EXITED"
    return _STATES.get(st["Status"], "FATAL")


def _published(container: Any) -> dict[str, int]:
    """The host port each container port of ``container`` is published on, as it runs."""
    return {
        key.split("/")[0]: int(binds[0]["HostPort"])
        for key, binds in (container.attrs["NetworkSettings"]["Ports"] or {}).items()
        if binds
    }


@contextlib.contextmanager
def engine_errors(doing: str) -> Iterator[None]:
    """The SDK's and its transport's errors as ``BackendError``s that say what failed."""
    import docker
    import requests

    try:
        yield
    except (docker.errors.DockerException, requests.RequestException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"Docker engine: {doing}: {first}") from None


class DockerBackend:
    """Runs a cluster's processes as containers of the node image (see ``Backend``)."""

    def __init__(self, state_dir: Path, cluster: str | None = None) -> None:
        """``cluster``: its name when cluster.json cannot be read (``cluster.salvage``)."""
        self.dir = state_dir
        self.meta = Meta.load(state_dir, cluster or ClusterState.load(state_dir).name)
        self._client: Any = None
        self._lock = threading.Lock()  # the meta file: verbs may run from several threads

    @property
    def engine(self) -> Any:
        if self._client is None:
            self._client = client()
        return self._client

    def _containers(self) -> dict[str, Any]:
        with engine_errors("listing containers"):
            mine = {"label": f"{UID}={self.meta.uid}"}
            found = self.engine.containers.list(all=True, filters=mine, ignore_removed=True)
        return {c.labels.get(PROCESS, c.name): c for c in found}

    def _container(self, name: str) -> Any | None:
        import docker

        with engine_errors(f"looking up {name}"):
            try:
                return self.engine.containers.get(self.meta.container(name))
            except docker.errors.NotFound:
                return None

    def _running(self, name: str) -> Any:
        c = self._container(name)
        if c is None or c.status not in ("running", "paused"):
            raise BackendError(f"{name} is not running")
        return c

    # ------------------------------------------------------------ set-up
    def apply(self, specs: Sequence[ProcessSpec]) -> None:
        with self._lock:
            self.meta.specs = {s.name: asdict(s) for s in specs}
            self.meta.save(self.dir)

    def reshape(self, specs: Sequence[ProcessSpec]) -> None:
        self.apply(specs)
        if not self.is_up():
            return
        wanted = {s.name: s for s in specs}
        for name, c in self._containers().items():
            if name not in wanted:  # a node that left: its data goes too, as on supervisord
                with engine_errors(f"removing {name}"):
                    c.remove(force=True)
                self._remove_volumes(self.meta.volume(name))
            elif c.status in ("running", "paused"):  # its files anew (the proxy reloads)
                with engine_errors(f"updating {name}'s files"):
                    c.put_archive("/", archive(self.dir, wanted[name]))

    def is_up(self) -> bool:
        try:
            with engine_errors("looking up the network"):
                return bool(self.engine.networks.list(names=[self.meta.network]))
        except BackendError:
            return False  # no engine: nothing of this cluster runs

    def up(self, progress: Callable[[str], None] | None = None) -> None:
        say = progress or (lambda _msg: None)
        try:
            image = build_image(progress=say, client=self.engine)
        except ImageError as exc:
            raise BackendError(str(exc)) from None
        if image.built:
            say(f"built {image.tag} in {image.seconds:.1f}s")
        with self._lock:
            self.meta.image = image.tag
            self.meta.save(self.dir)
        for c in self._containers().values():  # of a run that crashed
            with engine_errors(f"removing leftover {c.name}"):
                c.remove(force=True)
        if not self.is_up():
            with engine_errors("creating the cluster network"):
                self.engine.networks.create(
                    self.meta.network,
                    driver="bridge",
                    check_duplicate=True,
                    labels=self.meta.labels(self.dir),
                )

    # ------------------------------------------------------------ processes
    def start(self, name: str, wait: bool = True) -> None:
        spec = self.meta.spec(name)
        old = self._container(name)
        if old is not None and old.status in ("running", "paused"):
            return
        if not self.meta.image:
            raise BackendError(f"cluster {self.meta.cluster} is not up: `cluster up` first")
        pinned = {int(p): h for p, h in (self.meta.ports or {}).get(name, {}).items()}
        if old is not None:
            with engine_errors(f"removing the old container of {name}"):
                old.remove(force=True)
        try:
            c = self._create_started(spec, pinned)
        except BackendError as exc:
            if not pinned or not any(m in str(exc) for m in PORT_TAKEN):
                raise
            c = self._create_started(spec, {})  # its old port was taken meanwhile
        with engine_errors(f"reading {name}'s ports"):
            c.reload()
            ports = _published(c)
        with self._lock:
            self.meta = Meta.load(self.dir, self.meta.cluster)  # another process may have saved
            self.meta.ports = {**(self.meta.ports or {}), name: ports}
            self.meta.save(self.dir)

    def _create_started(self, spec: ProcessSpec, pinned: dict[int, int]) -> Any:
        self._ensure_volume(self.meta.volume(spec.name))
        with engine_errors(f"creating {spec.name}"):
            endpoint = self.engine.api.create_endpoint_config(aliases=[spec.alias or spec.name])
            c = self.engine.containers.create(
                self.meta.image,
                networking_config={self.meta.network: endpoint},
                **create_args(self.meta, self.dir, spec, pinned),
            )
        try:
            with engine_errors(f"starting {spec.name}"):
                c.put_archive("/", archive(self.dir, spec))
                c.start()
        except BaseException:
            with contextlib.suppress(Exception):
                c.remove(force=True)
            raise
        return c

    def _ensure_volume(self, volume: str) -> None:
        import docker

        with engine_errors(f"creating volume {volume}"):
            try:
                self.engine.volumes.get(volume)
            except docker.errors.NotFound:
                self.engine.volumes.create(volume, labels=self.meta.labels(self.dir))

    def _remove_volumes(self, *names: str) -> None:
        import docker

        for name in names:
            with (
                engine_errors(f"removing volume {name}"),
                contextlib.suppress(docker.errors.NotFound),
            ):
                self.engine.volumes.get(name).remove(force=True)

    def _raw_spec(self, name: str) -> dict[str, Any]:
        """``name``'s recorded spec, {} for a container no spec names any more."""
        return (self.meta.specs or {}).get(name, {})

    def stop(self, name: str) -> None:
        c = self._container(name)
        if c is None or c.status not in ("running", "paused"):
            return
        with engine_errors(f"stopping {name}"):
            if c.status == "paused":
                c.unpause()
            c.stop(timeout=int(self._raw_spec(name).get("stop_timeout", 10)))

    def kill(self, name: str) -> None:
        c = self._running(name)
        with engine_errors(f"killing {name}"):
            c.kill(signal="SIGKILL")
        try:
            wait_for(lambda: self.info(name).state != RUNNING, 10, f"{name} to die")
        except WaitTimeout as exc:
            raise BackendError(str(exc)) from None

    def pause(self, name: str) -> None:
        with engine_errors(f"pausing {name}"):
            self._running(name).pause()

    def resume(self, name: str) -> None:
        c = self._running(name)
        if c.status == "paused":
            with engine_errors(f"resuming {name}"):
                c.unpause()

    def info(self, name: str) -> ProcessInfo:
        c = self._container(name)
        if c is None:
            return ProcessInfo(name, DOWN)
        return ProcessInfo(name, _state(c), 0, c.short_id)

    def processes(self) -> dict[str, ProcessInfo]:
        return {n: ProcessInfo(n, _state(c), 0, c.short_id) for n, c in self._containers().items()}

    def pids(self) -> list[int]:
        return []  # nothing runs on this machine: the engine (maybe remote) runs it all

    def daemon_pid(self) -> int | None:
        return None

    def log_path(self, name: str) -> Path:
        path = private_dir(self.dir / "logs") / f"{name}.log"
        c = self._container(name)
        if c is not None:
            with engine_errors(f"reading {name}'s log"):
                text = c.logs(stdout=True, stderr=True).decode(errors="replace")
            atomic_write(path, text)
        return path

    def address(self, name: str, port: int) -> str:
        host_port = (self.meta.ports or {}).get(name, {}).get(str(port))
        if self._raw_spec(name).get("restart"):  # the engine restarted it: published anew
            c = self._container(name)
            if c is not None and c.status == "running":
                host_port = _published(c).get(str(port), host_port)
        if host_port is None:
            self.meta = Meta.load(self.dir, self.meta.cluster)  # started by another process
            host_port = (self.meta.ports or {}).get(name, {}).get(str(port), 0)
        return f"{engine_host()}:{host_port}"

    def down(self, purge: bool = False) -> list[str]:
        containers = self._containers()
        # Gracefully, as supervisord does (a node saves its watermarks on SIGTERM): the
        # nodes together, then the proxy they dialled through.
        nodes = [n for n in containers if not self._raw_spec(n).get("first")]
        with ThreadPoolExecutor(max(1, len(nodes))) as pool:
            list(pool.map(self.stop, nodes))
        for name in set(containers) - set(nodes):
            self.stop(name)
        for name in containers:
            self.log_path(name)  # kept in the state directory, as supervisord's logs are
        for c in containers.values():
            with engine_errors(f"removing {c.name}"):
                c.remove(force=True)
        with engine_errors("removing the cluster network"):
            for net in self.engine.networks.list(names=[self.meta.network]):
                net.remove()
        if purge:
            with engine_errors("listing volumes"):
                volumes = self.engine.volumes.list(filters={"label": f"{UID}={self.meta.uid}"})
            self._remove_volumes(*(v.name for v in volumes))
        left = [c.name for c in self._containers().values()]
        if left:
            raise BackendError(f"containers still there after down: {', '.join(left)}")
        return []
