"""``cluster gc``: remove the containers, networks and volumes of Docker clusters that no
longer exist here, found by label (what a crashed run, a deleted state directory or a
killed test left). A cluster whose state directory still names it is left alone: ``down``
keeps its volumes on purpose, and it may be up.
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

from cluster.backends.docker.engine import HOST_LABEL, META_FILE, STATE, UID


def _labels(obj: Any) -> dict[str, str]:
    attrs = obj.attrs
    return dict(attrs.get("Labels") or attrs.get("Config", {}).get("Labels") or {})


def orphaned(labels: dict[str, str]) -> bool:
    """Made on this machine for a state directory that no longer holds its id."""
    if labels.get(HOST_LABEL) != socket.gethostname() or UID not in labels:
        return False  # another machine's cluster: its state directory is not ours to read
    try:
        meta = json.loads((Path(labels.get(STATE, "")) / META_FILE).read_text())
    except (OSError, ValueError):
        return True
    return not isinstance(meta, dict) or meta.get("uid") != labels[UID]


def sweep(client: Any, dry_run: bool = False) -> list[str]:
    """Remove (or with ``dry_run`` only list) orphaned objects: containers first, then the
    networks and volumes they used. Returns ``kind name`` for each."""
    import docker

    selector = {"label": UID}
    found = [  # other clusters come and go meanwhile: what vanished is no error
        ("container", client.containers.list(all=True, filters=selector, ignore_removed=True)),
        ("network", client.networks.list(filters=selector)),
        ("volume", client.volumes.list(filters=selector)),
    ]
    removed = []
    for kind, objects in found:
        for obj in objects:
            if not orphaned(_labels(obj)):
                continue
            if not dry_run:
                with contextlib.suppress(docker.errors.NotFound):
                    obj.remove() if kind == "network" else obj.remove(force=True)
            removed.append(f"{kind} {obj.name}")
    return removed
