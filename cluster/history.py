"""Client operation history: what every client asked for and what it was told.

Each op is recorded twice under one ``id``: an ``invoke`` when it is sent, then a
completion: ``ok`` (acknowledged, with the returned version), ``fail`` (definitely
not applied: refused by the server as invalid, or never sent) or ``info``
(indeterminate: timed out or lost its connection, so it may or may not have been
applied). The checker needs exactly this distinction to tell a lost write from a
write that simply never happened. Values are unique per op (``w3-17``) so a final
value can be traced back to the op that wrote it. Stored as JSON lines.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TYPES = ("invoke", "ok", "fail", "info")
OPS = ("put", "delete")


@dataclass(frozen=True)
class Op:
    """One history record (an invocation or a completion)."""

    id: int
    worker: int
    node: str
    op: str
    key: str
    value: str | None
    type: str
    time: float
    hlc: int | None = None
    origin: str | None = None
    seq: int | None = None
    error: str | None = None

    @property
    def version(self) -> tuple[int, str] | None:
        """``(hlc, origin)``, the LWW order; only known for ``ok``."""
        return None if self.hlc is None or self.origin is None else (self.hlc, self.origin)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "value"}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Op:
        if raw.get("type") not in TYPES or raw.get("op") not in OPS:
            raise ValueError(f"not a history record: {raw!r}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


class History:
    """A thread-safe, append-only history shared by the client workers."""

    def __init__(self, start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self._lock = threading.Lock()
        self._next = 0
        self.ops: list[Op] = []

    def now(self) -> float:
        return round(time.monotonic() - self.start, 6)

    def invoke(self, worker: int, node: str, op: str, key: str, value: str | None) -> Op:
        with self._lock:
            rec = Op(self._next, worker, node, op, key, value, "invoke", self.now())
            self._next += 1
            self.ops.append(rec)
        return rec

    def complete(self, inv: Op, type_: str, **fields: Any) -> Op:
        """Record the outcome of ``inv``: ``ok`` with hlc/origin/seq, or fail/info with error."""
        if type_ not in ("ok", "fail", "info"):
            raise ValueError(f"completion type must be ok, fail or info, got {type_!r}")
        rec = Op(
            inv.id, inv.worker, inv.node, inv.op, inv.key, inv.value, type_, self.now(), **fields
        )
        with self._lock:
            self.ops.append(rec)
        return rec

    def snapshot(self) -> list[Op]:
        with self._lock:
            return list(self.ops)

    def counts(self) -> dict[str, int]:
        return count_types(self.snapshot())


def count_types(ops: Iterable[Op]) -> dict[str, int]:
    c = Counter(o.type for o in ops)
    return {t: c.get(t, 0) for t in TYPES}


def dump(ops: Iterable[Op], path: Path) -> None:
    with open(path, "w") as f:
        for o in ops:
            f.write(json.dumps(o.to_dict()) + "\n")


def load(path: Path) -> list[Op]:
    """Read a history written by :func:`dump`; ValueError names the line."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(Op.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
    return out
