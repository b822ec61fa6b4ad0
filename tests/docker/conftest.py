"""Fixtures for the Docker tests: an engine that must answer (the tests FAIL without one,
never skip: CI must not go green with the Docker path untested), the node image built once
per session, and labels on everything a test creates so it can be swept afterwards, and
after a killed run by the next one. No Ryuk: its image cannot be pulled here."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from cluster.backends.docker.image import ImageError, ImageInfo, build_image, docker_client  # noqa: E402

LABEL = "remesh.test"  # value: this session's run id
OWNER = "remesh.test.owner"  # value: host:pid of the pytest process that created it
RUN_ID = uuid.uuid4().hex[:12]


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# What the Docker backend creates for these tests (through the library or the CLI, which
# inherits the environment) carries the same labels, so the sweeps below cover it too.
os.environ["REMESH_DOCKER_LABELS"] = f"{LABEL}={RUN_ID},{OWNER}={owner()}"


def _owner_dead(value: str) -> bool:
    host, _, pid = value.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run, or not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep(client: Any, keep: Any = None, run_id: str | None = None) -> list[str]:
    """Remove containers, then networks and volumes, labelled by a test run: this run's
    (``run_id``), or those whose owning pytest process is gone (a killed run). Returns what
    was removed."""
    selector = f"{LABEL}={run_id}" if run_id else LABEL
    removed: list[str] = []
    collections = (
        (client.containers.list(all=True, filters={"label": selector}), "container"),
        (client.networks.list(filters={"label": selector}), "network"),
        (client.volumes.list(filters={"label": selector}), "volume"),
    )
    for objects, kind in collections:
        for obj in objects:
            labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
            if run_id is None and not _owner_dead(labels.get(OWNER, "")):
                continue
            if kind == "container":
                obj.remove(force=True, v=True)
            elif kind == "volume":
                obj.remove(force=True)
            else:
                obj.remove()
            removed.append(f"{kind} {obj.name}")
    return removed


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """The engine DOCKER_HOST names; fails the test with the fix when none answers."""
    client, problem = None, ""
    try:
        client = docker_client()
    except ImageError as exc:
        problem = str(exc)
    if client is None:  # failed outside the except block: no chained traceback in the report
        pytest.fail(f"Docker tests need an engine: {problem}", pytrace=False)
    stale = sweep(client)
    if stale:
        print(f"swept what a killed test run left: {', '.join(stale)}")
    yield client
    sweep(client, run_id=RUN_ID)
    client.close()


@pytest.fixture(scope="session")
def node_image(docker_engine: Any) -> ImageInfo:
    """The node image, built (or found) once per session and worker; kept afterwards on
    purpose, as the cache the next run and the Docker backend reuse."""
    problem = ""
    try:
        return build_image(client=docker_engine)
    except ImageError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def labels() -> dict[str, str]:
    """Labels every Docker object a test creates must carry."""
    return {LABEL: RUN_ID, OWNER: owner()}
