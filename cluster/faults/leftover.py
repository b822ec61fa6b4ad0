"""Faults a long run (the nemesis) set and has not yet undone, recorded beside the state.

A run that is stopped (SIGTERM, Ctrl-C, ``down``) heals what it set before it lets go, but
one that is SIGKILLed or crashes cannot. It marks ``nemesis.json`` while its faults may be
in force and clears it once they are undone, so the next ``up`` knows the link faults
kept in ``faults.json`` were the dead run's, heals them, and says so, instead of bringing
the nodes up behind cut links (where they would time out recovering).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cluster.files import atomic_write

MARKER = "nemesis.json"


def mark(state_dir: Path, what: str) -> None:
    info = {"pid": os.getpid(), "what": what, "since": time.time()}
    atomic_write(state_dir / MARKER, json.dumps(info) + "\n")


def clear(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / MARKER).unlink()


def left_by(state_dir: Path) -> str | None:
    """Who left faults in force without undoing them ("nemesis seed 7 (pid 42)"), if any."""
    try:
        info: Any = json.loads((state_dir / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "a run whose record is unreadable"
    if not isinstance(info, dict):
        return "a run whose record is unreadable"
    return f"{info.get('what', 'a run')} (pid {info.get('pid', '?')})"
