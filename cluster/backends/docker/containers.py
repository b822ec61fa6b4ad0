"""One process as one container: create arguments from a ``ProcessSpec``, and the state
directory files it reads shipped into it.

The command runs unchanged but for its interpreter (the image's ``python``), so paths in
it still name files in the state directory: those files (its config, and everything in
``secrets/`` for tokens and certificates) are copied into the container at the same
absolute paths, read-only to it, before each start. Copying, not bind-mounting, is what
makes a remote engine (``DOCKER_HOST`` on another machine) work unchanged.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from cluster.backends.base import ProcessSpec
from cluster.backends.docker.engine import Meta, publish_ip
from cluster.backends.docker.image import NODE_UID

DATA = "/data"  # a process's volume: a node's data, the proxy's faults file
SHIPPED_DIRS = ("secrets",)  # state-directory subtrees every container gets


def create_args(
    meta: Meta, state_dir: Path, spec: ProcessSpec, host_ports: dict[int, int]
) -> dict[str, Any]:
    """``containers.create`` keyword arguments; ``host_ports`` pins published ports (the
    ones used before, so addresses survive a restart), the others are picked by Docker."""
    alias = spec.alias or spec.name
    return {
        "name": meta.container(spec.name),
        "entrypoint": ["python"],
        "command": list(spec.command[1:]),
        "working_dir": spec.directory or "/app",
        "environment": dict(spec.env),
        "labels": meta.labels(state_dir, spec.name),
        "ports": {f"{p}/tcp": (publish_ip(), host_ports.get(p)) for p in spec.ports},
        "volumes": {meta.volume(spec.name): {"bind": DATA, "mode": "rw"}},
        "network": meta.network,
        "hostname": alias,
        "stop_signal": "SIGTERM",
        **(
            {"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5}}
            if spec.restart
            else {}
        ),
    }


def _inside(path: Path, state_dir: Path) -> bool:
    return path.is_relative_to(state_dir) and path != state_dir


def shipped_files(state_dir: Path, spec: ProcessSpec) -> list[Path]:
    """The state directory's files ``spec`` reads: files its command names, and the
    ``SHIPPED_DIRS`` trees. Symlinks are not followed (nor shipped)."""
    named = [Path(a) for a in spec.command[1:] if a.startswith(str(state_dir) + "/")]
    files = [p for p in named if _inside(p, state_dir) and p.is_file() and not p.is_symlink()]
    for sub in SHIPPED_DIRS:
        root = state_dir / sub
        if root.is_dir() and not root.is_symlink():
            files += sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return files


def archive(state_dir: Path, spec: ProcessSpec) -> bytes:
    """A tar, to extract at ``/``, of the state directory's skeleton down to the working
    directory and the shipped files: directories 0700, files 0400, owned by the image's
    user (the node runs as it and only reads them)."""
    paths = shipped_files(state_dir, spec)
    dirs = {state_dir}
    for d in [*(p.parent for p in paths), *([Path(spec.directory)] if spec.directory else [])]:
        dirs.update(q for q in (d, *d.parents) if q.is_relative_to(state_dir))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in sorted(dirs, key=lambda q: len(q.parts)):
            info = tarfile.TarInfo(str(d).lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            info.uid = info.gid = NODE_UID
            tar.addfile(info)
        for f in paths:
            data = f.read_bytes()
            info = tarfile.TarInfo(str(f).lstrip("/"))
            info.size, info.mode = len(data), 0o400
            info.uid = info.gid = NODE_UID
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
