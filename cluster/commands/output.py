"""What verbs print: the status table, the faults line, and a progress line on a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from cluster.api import Cluster
from cluster.backends.base import DOWN, RUNNING, UNSUPERVISED
from cluster.backends.registry import DEFAULT, traits
from cluster.faults.model import ProxyError
from cluster.render import PROXY
from cluster.status import NodeView


class Progress:
    """One rewritten line on a terminal; silent when stderr is piped."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.width = 0

    def __call__(self, text: str) -> None:
        if self.tty:
            line = text[:100]
            sys.stderr.write("\r" + line.ljust(self.width))
            sys.stderr.flush()
            self.width = len(line)

    def done(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def timed() -> Callable[[str], None]:
    """Progress as lines on stderr, each with the time since this was made: the gaps are
    the phases' timings (a long step such as an image build)."""
    started = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr)

    return say


def short(origin: str) -> str:
    """An origin for a table: the incarnation cut to 6 hex digits (``--json`` has it all)."""
    name, sep, incarnation = origin.partition("@")
    return name + sep + incarnation[:6]


def status_table(rows: Sequence[NodeView], ident: str = "PID") -> str:
    """One line per node: process (``ident``: what the backend calls it), keys,
    tombstones, log entries held/named, digest, links, lag, vv."""
    head = ["NODE", "STATE", ident, "ADDRESS", "REPLICA", "KEYS", "TOMBS", "LOG", "DIGEST"]
    head += ["LINKS", "LAG", "VV"]
    table = [head]
    for r in rows:
        links = (
            "-"
            if r.links is None
            else (
                f"{sum(r.links.values())}/{len(r.links)} up"
                + (
                    ""
                    if all(r.links.values())
                    else " (down: " + ",".join(p for p, up in r.links.items() if not up) + ")"
                )
            )
        )
        lag = "-" if r.lag is None else (",".join(f"{p}:{n}" for p, n in r.lag.items() if n) or "0")
        vv = "-" if r.vv is None else " ".join(f"{short(o)}:{s}" for o, s in sorted(r.vv.items()))
        shown = ("recovering", "decommissioned", "stale")
        state = r.state + (f" ({r.replica_state})" if r.replica_state in shown else "")
        state += " (forked)" if r.forks else ""
        table.append(
            [
                r.name,
                state + (f" ({r.error})" if r.error else ""),
                str(r.pid or r.ident or "-"),
                r.address,
                short(r.replica_id) or "-",
                "-" if r.keys is None else str(r.keys),
                "-" if r.tombstones is None else str(r.tombstones),
                "-" if r.log_held is None else f"{r.log_held}/{r.log_entries}",
                (r.digest or "-")[:12],
                links,
                lag,
                vv,
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def faults_line(faults: dict[str, dict[str, Any]]) -> str:
    """Active link faults, grouped by kind: what `partition`/`isolate`/`delay` left in place."""
    if not faults:
        return "links: no faults"
    kinds: dict[str, list[str]] = {}
    for link, f in sorted(faults.items()):
        kind = f.get("mode", "ok")
        if kind == "ok" and f.get("delay_ms"):
            kind = f"delay {f['delay_ms']} ms"
        elif f.get("delay_ms"):
            kind += f" + delay {f['delay_ms']} ms"
        kinds.setdefault(kind, []).append(link)
    return "links: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in kinds.items())


SKEW_NOTE_MS = 500  # clock offsets worth a line under the table


def notes(rows: Sequence[NodeView]) -> list[str]:
    """Lines under the table: clocks off by more than SKEW_NOTE_MS, links that are held or
    refused (their reason), and nodes still recovering."""
    out = []
    for r in rows:
        for peer, ms in sorted((r.clock_offset_ms or {}).items()):
            if abs(ms) > SKEW_NOTE_MS:
                out.append(f"clock: {r.name} sees {peer} {ms:+,} ms")
        for peer, why in sorted((r.link_errors or {}).items()):
            if why.startswith(("refused", "clock skew", "cannot store")):
                out.append(f"link {peer}>{r.name}: {why}")
        out += [f"{r.name}: {line}" for line in r.forks or []]
        if r.replica_state == "recovering":
            out.append(f"{r.name}: recovering ({r.replica_reason or 'asking its peers'})")
        elif r.replica_state == "stale":
            out.append(f"{r.name}: stale data, serves nothing: {r.replica_reason}")
        for pin in r.pins or []:
            how = "connected" if pin["open"] else "down"
            out.append(
                f"truncation: {r.name} holds {short(pin['origin'])}'s log past seq {pin['acked']} "
                f"for {pin['peer']} ({how}, last ack {pin['since_s']:.0f}s ago)"
            )
        if r.snapshot.startswith(("sending", "receiving")):
            out.append(f"snapshot: {r.name} {r.snapshot}")
    return out


def proxy_line(c: Cluster) -> tuple[dict[str, Any], str]:
    """The link proxy's process and whether its faults could be read, for ``status``
    (``--json`` always; the table only when something is wrong with it)."""
    info = c.processes().get(PROXY)
    state = info.state if info else DOWN
    out: dict[str, Any] = {"state": state, "pid": info.pid if info else 0, "error": ""}
    line = f"proxy: {state}" + (f" pid {info.pid}" if info and info.pid else "")
    if c.is_up() and state not in (RUNNING, "STARTING", UNSUPERVISED):
        out["error"] = "links do not forward: `cluster start proxy` (`cluster logs proxy`)"
        line += f": {out['error']}"
    return out, line


def print_status(c: Cluster, as_json: bool) -> None:
    rows = c.status()
    faults: dict[str, Any] = {}
    proxy, line = proxy_line(c) if c.has_proxy else ({}, "")
    if c.has_proxy and c.is_up():
        try:
            faults = c.faults()
        except ProxyError as exc:  # the table is still worth showing: say what is unknown
            proxy["error"] = str(exc)
            line = f"proxy: {exc}"
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": c.name,
                    "backend": c.backend,
                    "state_dir": str(c.dir),
                    "faults": faults,
                    **({"proxy": proxy} if proxy else {}),
                    "nodes": [r.as_dict() for r in rows],
                },
                indent=2,
            )
        )
    else:
        print(status_table(rows, traits(c.backend).id_column))
        if c.backend != DEFAULT:
            print(f"backend: {c.backend}")
        if c.has_proxy:
            if proxy.get("error"):  # short by default: the proxy is shown when it is not well
                print(line)
            print(faults_line(faults) if not proxy.get("error") else "links: faults unknown")
        if any(r.metrics for r in rows):
            print("metrics: " + ", ".join(f"{r.name} {r.metrics}" for r in rows if r.metrics))
        for line in notes(rows):
            print(line)
        if c.topology_edited:
            print(
                f"warning: {c.dir / 'topology.yaml'} differs from the topology in cluster.json, "
                "which the cluster runs as; edit the file you `cluster up` from instead",
                file=sys.stderr,
            )
        if any(r.state == UNSUPERVISED for r in rows):
            print(
                "warning: supervisord is not running, but the nodes marked UNSUPERVISED are;"
                " `cluster down` stops them",
                file=sys.stderr,
            )
