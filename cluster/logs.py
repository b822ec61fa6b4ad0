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


def last_error(text: str) -> str:
    """Why a process that ended said it did: the last ``error:`` line (what ``python -m
    node`` prints for bad flags or files) or ERROR record in ``text``, without its time,
    level and logger, from its last lines only (older ones are of an earlier run); "" when
    there is none."""
    for line in reversed(text.splitlines()[-3:]):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
        if line.startswith("{") and '"level": "ERROR"' in line:
            try:
                return str(json.loads(line)["message"])
            except (ValueError, KeyError, TypeError):
                continue
        if " ERROR " in line:  # "<time> ERROR <node> <logger>: <node>: <message>"
            node, _, rest = line.split(" ERROR ", 1)[1].partition(" ")
            return rest.partition(": ")[2].removeprefix(f"{node}: ")
    return ""


def failed_start(name: str, state: str, log: Path, lines: str) -> str:
    """What a verb says of a process that exited while it waited: its state, its own reason
    first (``last_error``), then where its log is and its last ``lines``."""
    why = last_error(lines)
    return f"{name} failed to start ({state}){': ' + why if why else ''}; see {log}:\n{lines}"


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
