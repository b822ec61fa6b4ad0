"""What verbs print: the status table, the faults line, and a progress line on a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from cluster.api import Cluster
from cluster.backends.base import DOWN, RUNNING, UNSUPERVISED
from cluster.backends.registry import DEFAULT, traits
from cluster.commands.table import LEGEND, judge, notes, pack, short, status_table, wrap
from cluster.faults.model import ProxyError
from cluster.render import PROXY

__all__ = ["Progress", "faults_line", "notes", "print_status", "short", "status_table"]


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


def print_status(c: Cluster, as_json: bool, verbose: bool = False) -> None:
    """The table (every detail with ``verbose``) and its notes, or all of it as JSON."""
    rows = c.status()
    judge(rows)
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
        print(status_table(rows, traits(c.backend).id_column, verbose))
        if c.backend != DEFAULT:
            print(f"backend: {c.backend}")
        if c.has_proxy:
            if proxy.get("error"):  # short by default: the proxy is shown when it is not well
                print(wrap(line))
            print(wrap(faults_line(faults) if not proxy.get("error") else "links: faults unknown"))
        if any(r.metrics for r in rows):
            urls = [f"{r.name} {r.metrics}" for r in rows if r.metrics]
            print("\n".join(pack("metrics: ", urls)))
        for line in notes(rows, verbose):
            print(line)
        if verbose:
            print(wrap(LEGEND))
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
