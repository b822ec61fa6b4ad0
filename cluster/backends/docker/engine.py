"""The Docker engine as the backend sees it: a client, the labels and names of what a
cluster creates, and ``docker.json`` (the per-cluster id, image and process specs).

Everything the backend creates carries ``remesh.cluster``, ``remesh.state`` (the state
directory), ``remesh.uid`` (unique per state directory: two clusters of the same name in
different homes never share a container, network or volume) and ``remesh.host``, plus
the labels ``REMESH_DOCKER_LABELS`` adds (``k=v,k=v``, keys under ``remesh.``: the test
suite tags its runs). ``down`` and ``cluster gc`` find what to remove by these labels,
so nothing depends on a run having ended cleanly.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cluster.backends.base import BackendError, ProcessSpec
from cluster.backends.docker.image import ImageError, docker_client, docker_host
from cluster.files import atomic_write

META_FILE = "docker.json"
CLUSTER, STATE, UID, HOST_LABEL, PROCESS = (
    "remesh.cluster",
    "remesh.state",
    "remesh.uid",
    "remesh.host",
    "remesh.process",
)
EXTRA_LABELS = "REMESH_DOCKER_LABELS"


def client() -> Any:
    """A client for the engine ``DOCKER_HOST`` names; no engine is a ``BackendError``
    naming the fix."""
    try:
        return docker_client()
    except ImageError as exc:
        raise BackendError(str(exc)) from None


def engine_host() -> str:
    """Where this machine reaches ports the engine publishes: the host part of a
    ``tcp://`` ``DOCKER_HOST``, else this machine's loopback."""
    url = urlsplit(docker_host())
    if url.scheme in ("tcp", "http", "https") and url.hostname:
        return url.hostname
    return "127.0.0.1"


def publish_ip() -> str:
    """The engine host's address published ports bind to: loopback when this machine is
    that host (nothing exposed to the network), every address for a remote engine."""
    host = engine_host()
    return "127.0.0.1" if host in ("127.0.0.1", "localhost", "::1") else "0.0.0.0"


def extra_labels() -> dict[str, str]:
    """``REMESH_DOCKER_LABELS``; a malformed entry is a ``BackendError`` naming it."""
    out: dict[str, str] = {}
    for item in filter(None, os.environ.get(EXTRA_LABELS, "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("remesh.") or not key.replace(".", "").isalnum():
            raise BackendError(
                f"{EXTRA_LABELS}: expected comma-separated remesh.KEY=VALUE, got {item!r}"
            )
        out[key] = value
    return out


@dataclass
class Meta:
    """``docker.json``: kept across ``down`` so volumes and names are found again."""

    cluster: str
    uid: str
    image: str = ""
    specs: dict[str, dict[str, Any]] | None = None
    ports: dict[str, dict[str, int]] | None = None  # process -> its port -> published port

    @classmethod
    def load(cls, state_dir: Path, cluster: str) -> Meta:
        path = state_dir / META_FILE
        try:
            raw = json.loads(path.read_text())
            return cls(
                cluster,
                str(raw["uid"]),
                str(raw.get("image", "")),
                raw.get("specs") or {},
                raw.get("ports") or {},
            )
        except FileNotFoundError:
            return cls(cluster, secrets.token_hex(4), "", {}, {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"{path} is unreadable ({exc}): remove it (`cluster gc` then removes its "
                "containers and volumes) or restore it"
            ) from None

    def save(self, state_dir: Path) -> None:
        atomic_write(state_dir / META_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @property
    def prefix(self) -> str:
        return f"remesh-{self.cluster}-{self.uid}"

    @property
    def network(self) -> str:
        return self.prefix

    def container(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def volume(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def labels(self, state_dir: Path, process: str | None = None) -> dict[str, str]:
        out = {
            **extra_labels(),
            CLUSTER: self.cluster,
            STATE: str(state_dir),
            UID: self.uid,
            HOST_LABEL: socket.gethostname(),
        }
        if process is not None:
            out[PROCESS] = process
        return out

    def spec(self, name: str) -> ProcessSpec:
        raw = (self.specs or {}).get(name)
        if raw is None:
            known = ", ".join(self.specs or {}) or "none"
            raise BackendError(f"no process {name!r} in this cluster (processes: {known})")
        return ProcessSpec(**{**raw, "ports": tuple(raw["ports"])})
