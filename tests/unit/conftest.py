"""The unit tier is honest: a test here that opens a socket or starts a process fails.

Such a test belongs in tests/component (or a higher tier); this fixture makes the
marker a fact rather than a promise.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a unit test may not {what}: move it to tests/component")

    return refuse


@pytest.fixture(autouse=True)
def no_sockets_no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "bind", _refuse("bind a socket"))
    monkeypatch.setattr(socket.socket, "connect", _refuse("connect a socket"))
    monkeypatch.setattr(socket, "create_connection", _refuse("open a connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(multiprocessing.Process, "start", _refuse("start a process"))
    monkeypatch.setattr(os, "fork", _refuse("fork"))
    yield
