"""Watermark files: the version vector checkpointed, one file per origin.

``<data-dir>/.watermarks/<origin>.wm`` holds ``remesh-watermark v1 <origin> <seq> <crc32>``.
A file is written atomically (temp file in the same directory, flush, fsync,
``os.replace``, fsync of the directory) and only after a LevelDB sync barrier,
so it never claims more than is durably applied. On start the node loads them
and scans the log forward from there; a missing or corrupt file is a warning
and a rescan of that origin from the start, never a crash and never a loss.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("node.storage.watermarks")

MAGIC = "remesh-watermark v1"
SUFFIX = ".wm"


def _line(origin: str, seq: int) -> str:
    body = f"{MAGIC} {origin} {seq}"
    return f"{body} {zlib.crc32(body.encode()):08x}\n"


class Watermarks:
    """Reads and writes the watermark directory of one node."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / ".watermarks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.saved: dict[str, int] = {}

    def load(self) -> dict[str, int]:
        """Every readable watermark; bad files are reported and skipped."""
        out: dict[str, int] = {}
        for path in sorted(self.dir.glob(f"*{SUFFIX}")):
            origin = path.name[: -len(SUFFIX)]
            try:
                text = path.read_text()
                body, _, crc = text.strip().rpartition(" ")
                magic_origin, _, seq = body.rpartition(" ")
                if (
                    magic_origin != f"{MAGIC} {origin}"
                    or not seq.isdigit()
                    or f"{zlib.crc32(body.encode()):08x}" != crc
                ):
                    raise ValueError(f"unexpected content {text[:80]!r}")
                out[origin] = int(seq)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                log.warning(
                    "watermark file %s is corrupt (%s); rebuilding %s from the log",
                    path,
                    exc,
                    origin,
                )
        self.saved = dict(out)
        return out

    def save(self, vv: Mapping[str, int]) -> int:
        """Write the files of origins that moved since the last save; returns how many."""
        changed = {o: s for o, s in vv.items() if self.saved.get(o) != s}
        for origin, seq in changed.items():
            tmp = self.dir / f".{origin}{SUFFIX}.tmp"
            with open(tmp, "w") as f:
                f.write(_line(origin, seq))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / f"{origin}{SUFFIX}")
            self.saved[origin] = seq
        if changed:
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return len(changed)
