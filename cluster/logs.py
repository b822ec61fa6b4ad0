"""Reading process logs: a tail for error messages, and lines no healthy run writes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

UNEXPECTED = (" ERROR ", " CRITICAL ", "Traceback")


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of ``path`` ("" when there is no such file)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def unexpected_lines(logs: Iterable[tuple[str, Path]]) -> list[str]:
    """``name: line`` for every ERROR, CRITICAL or traceback line in the named logs."""
    return [
        f"{name}: {line}"
        for name, path in logs
        if path.exists()
        for line in path.read_text(errors="replace").splitlines()
        if any(mark in line for mark in UNEXPECTED)
    ]
