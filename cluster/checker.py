"""History checker for last-writer-wins: is every key's final state explained by the history?

For each key the final state must be the same at every node and must be the write
with the largest version among the acknowledged ops on that key, unless an
indeterminate (``info``) op, which may have applied, wrote something larger. Values
are unique per op, so a live final value names the put that wrote it; a tombstone
is matched by its version (an ``info`` delete's version is unknown, so any tombstone
larger than every acknowledged version, and equal to none, is allowed).

Anomalies: ``divergence`` (nodes disagree), ``lost-write`` (the largest acked write
is not what survived and nothing larger explains it), ``resurrected-delete`` (the
largest acked op is a delete, yet the key is live with an older or unknown value),
``wrong-winner`` (an acked but not the largest acked write survived), ``phantom``
(the final state was written by no op that was sent, or by a ``fail`` op, which
definitely did not apply).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cluster.history import Op, count_types

KINDS = ("divergence", "lost-write", "resurrected-delete", "wrong-winner", "phantom")

Version = tuple[int, str]


class FinalState(NamedTuple):
    """A key's state at one node: its winning version, whether it is a tombstone, its value."""

    hlc: int
    origin: str
    deleted: bool
    value: str | None

    @property
    def version(self) -> Version:
        return (self.hlc, self.origin)

    def describe(self) -> str:
        what = "tombstone" if self.deleted else f"value {self.value!r}"
        return f"{what} at ({self.hlc}, {self.origin})"


@dataclass
class Verdict:
    valid: bool
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "anomalies": self.anomalies, "counts": self.counts}


@dataclass
class _KeyOps:
    ok: list[Op] = field(default_factory=list)
    info: list[Op] = field(default_factory=list)
    fail: list[Op] = field(default_factory=list)


def outcomes(history: Iterable[Op]) -> list[Op]:
    """One completion per op id; an invocation that never completed counts as ``info``."""
    invokes: dict[int, Op] = {}
    done: dict[int, Op] = {}
    for o in history:
        if o.type == "invoke":
            invokes[o.id] = o
        else:
            done[o.id] = o
    for i, inv in invokes.items():
        if i not in done:
            done[i] = Op(**{**inv.to_dict(), "type": "info", "error": "never completed"})
    return [done[i] for i in sorted(done)]


def _show(state: FinalState | None) -> str:
    return "absent" if state is None else state.describe()


def _op(o: Op) -> str:
    v = f" at ({o.hlc}, {o.origin})" if o.version else ""
    what = f"put {o.value!r}" if o.op == "put" else "delete"
    return f"{o.type} {what} via {o.node} (op {o.id}){v}"


def _version(o: Op) -> Version:
    assert o.version is not None, f"an ok op without a version: {o}"
    return o.version


def _writer(state: FinalState, k: _KeyOps) -> Op | None:
    """The op that wrote ``state``: a put by its unique value, a delete by its version."""
    if not state.deleted:
        for o in k.ok + k.info + k.fail:
            if o.op == "put" and o.value == state.value:
                return o
        return None
    for o in k.ok:
        if o.version == state.version:
            return o if o.op == "delete" else None  # a put's version on a tombstone: unknown
    dels = [o for o in k.info + k.fail if o.op == "delete"]
    return dels[0] if dels else None


def _judge(state: FinalState | None, k: _KeyOps) -> list[tuple[str, str]]:
    """(kind, detail) for every rule ``state`` breaks, given the ops on its key."""
    top = max(k.ok, key=_version) if k.ok else None
    if state is None:
        if top is not None:
            return [("lost-write", f"largest acked op {_op(top)} but the key was never written")]
        return []
    writer = _writer(state, k)
    out: list[tuple[str, str]] = []
    if writer is None or writer.type == "fail":
        why = "a failed op, which must not apply" if writer else "no op that was sent"
        out.append(("phantom", f"final {state.describe()} was written by {why}"))
    elif writer.type == "ok" and writer.version != state.version:
        out.append(("phantom", f"final {state.describe()} carries the value of {_op(writer)}"))
    if top is None or (state.version == top.version and writer is top):
        return out
    older = state.version < _version(top)
    explained = writer is not None and writer.type == "info" and not older
    if explained:
        return out
    if top.op == "delete" and not state.deleted:
        out.append(("resurrected-delete", f"final {state.describe()}, largest acked {_op(top)}"))
    elif writer is not None and writer.type == "ok" and writer is not top:
        out.append(
            (
                "wrong-winner",
                f"final {state.describe()} from {_op(writer)}; largest acked {_op(top)}",
            )
        )
    elif older:
        out.append(
            ("lost-write", f"final {state.describe()} is older than largest acked {_op(top)}")
        )
    return out


def check(history: Iterable[Op], final: Mapping[str, Mapping[str, FinalState | None]]) -> Verdict:
    """Judge ``final`` (node -> key -> state, None when the key was never written there)."""
    ops = outcomes(history)
    by_key: dict[str, _KeyOps] = defaultdict(_KeyOps)
    for o in ops:
        getattr(by_key[o.key], o.type).append(o)
    nodes = sorted(final)
    keys = sorted(set(by_key) | {key for states in final.values() for key in states})
    anomalies: list[dict[str, Any]] = []
    for key in keys:
        states = {n: final[n].get(key) for n in nodes}
        distinct = list(dict.fromkeys(states.values()))
        if len(distinct) > 1:
            detail = "; ".join(f"{n}: {_show(s)}" for n, s in states.items())
            anomalies.append({"kind": "divergence", "key": key, "detail": detail})
        for state in distinct:
            held = [n for n, s in states.items() if s == state]
            for kind, detail in _judge(state, by_key.get(key, _KeyOps())):
                a: dict[str, Any] = {"kind": kind, "key": key, "detail": detail}
                if len(distinct) > 1:
                    a["nodes"] = held
                anomalies.append(a)
    kinds = Counter(a["kind"] for a in anomalies)
    counts = {
        "ops": {t: n for t, n in count_types(ops).items() if t != "invoke"},
        "keys": len(keys),
        "nodes": len(nodes),
        "anomalies": {k: kinds[k] for k in KINDS if kinds[k]},
    }
    return Verdict(not anomalies, anomalies, counts)
