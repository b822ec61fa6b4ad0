"""Reading process logs: a tail for error messages, lines no healthy run writes, and
every node's log merged in time order (``cluster logs --all``)."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

# Text and JSON (``log_format: json``) logs' marks of trouble.
UNEXPECTED = (" ERROR ", " CRITICAL ", "Traceback", '"level": "ERROR"', '"level": "CRITICAL"')


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


TEXT_TIME = "%Y-%m-%d %H:%M:%S,%f"  # logging's asctime: local time, milliseconds
TEXT_TIME_LEN = len("2026-01-01 00:00:00,000")


def line_time(line: str) -> float | None:
    """When a log line was written (epoch seconds), for either node log format; None for
    a line that carries no time (a traceback's continuation, gRPC's own stderr)."""
    if line.startswith("{"):
        try:
            return datetime.fromisoformat(json.loads(line)["time"]).timestamp()
        except (ValueError, KeyError, TypeError):
            return None
    try:
        return datetime.strptime(line[:TEXT_TIME_LEN], TEXT_TIME).timestamp()
    except ValueError:
        return None


Stamped = tuple[float, str, int, str]  # (time, log name, order within its log, line)


def stamped(name: str, lines: Iterable[str], last: float = 0.0) -> Iterator[Stamped]:
    """Each line with its time; a line without one takes the time of the line before."""
    for i, line in enumerate(lines):
        t = line_time(line)
        last = last if t is None else t
        yield last, name, i, line


def merged(logs: Iterable[Iterable[Stamped]]) -> Iterator[Stamped]:
    """Several stamped logs, each in time order, as one stream in time order (lines of
    one instant: by log name, each log's in its own order)."""
    return heapq.merge(*logs)
