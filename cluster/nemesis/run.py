"""One nemesis run: workload and faults for a while, then heal, converge, check, write."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.api import Cluster
from cluster.checker import FinalState, Verdict, check
from cluster.errors import ClusterError, ConvergeTimeout, OperationFailed
from cluster.faults.leftover import clear, mark
from cluster.history import History, count_types, dump
from cluster.nemesis.apply import Nemesis
from cluster.nemesis.drawing import write_report
from cluster.nemesis.kinds import DEFAULT_FAULTS, FAULTS, KINDS
from cluster.nemesis.plan import plan
from cluster.nemesis.report import CONVERGENCE_MEANS, build
from cluster.nemesis.workers import Live, Worker
from cluster.verblock import hold


def read_final(
    cluster: Cluster, keys: Iterable[str], prefix: str
) -> dict[str, dict[str, FinalState | None]]:
    """Every key's state at every node via Get (tombstones carry a version, never-written don't)."""
    out: dict[str, dict[str, FinalState | None]] = {}
    nodes = cluster.topology.names()
    wanted = set(keys)
    for n in nodes:  # a key outside the key space would be a phantom: scan for it too
        items = cluster.client(n).scan(prefix.encode(), timeout=30)
        wanted |= {i.key.decode(errors="replace") for i in items}
    for n in nodes:
        states: dict[str, FinalState | None] = {}
        for key in sorted(wanted):
            r = cluster.client(n).get(key.encode(), timeout=10)
            states[key] = (
                FinalState(
                    r.version.hlc,
                    r.version.origin,
                    not r.found,
                    r.value.decode(errors="replace") if r.found else None,
                )
                if r.HasField("version")
                else None
            )
        out[n] = states
    return out


def default_out_dir(cluster: Cluster, seed: int) -> Path:
    return Path("nemesis-results") / f"{cluster.name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_faults(faults: Iterable[str]) -> list[str]:
    chosen = sorted({f.strip() for f in faults if f.strip()})
    bad = [f for f in chosen if f not in FAULTS]
    if bad or not chosen:
        what = f"unknown fault {', '.join(bad)}" if bad else "no fault given"
        raise ClusterError(f"{what}; valid faults: {', '.join(FAULTS)}")
    return chosen


@dataclass
class _Run:
    seed: int
    duration: float
    faults: list[str]
    workers: int
    keys: int
    converge_timeout: float
    extra: dict[str, Any] = field(default_factory=dict)

    def replay(self, cluster: Cluster) -> str:
        return (
            f"cluster nemesis --home {cluster.dir.parent} --cluster {cluster.name} "
            f"--seed {self.seed} --duration {self.duration:g}s --faults {','.join(self.faults)} "
            f"--workers {self.workers} --keys {self.keys} "
            f"--converge-timeout {self.converge_timeout:g}"
        )


def run_nemesis(
    cluster: Cluster,
    seed: int,
    duration: float,
    faults: Iterable[str] = DEFAULT_FAULTS,
    workers: int = 4,
    keys: int = 8,
    out_dir: Path | str | None = None,
    converge_timeout: float = 60,
    progress: Callable[[str], None] | None = None,
    op_timeout: float = 1.0,
) -> dict[str, Any]:
    """Workload and faults for ``duration`` s; heal, converge, check; write and return a summary.
    Holds the cluster's lock (``cluster.verblock``) throughout: no other verb changes it
    meanwhile, and ``down`` stops the run first (SIGTERM: it heals what it set)."""
    with hold(cluster.dir, f"nemesis seed {seed}", cluster.lock_wait):
        return _run_nemesis(
            cluster,
            seed,
            duration,
            faults,
            workers,
            keys,
            out_dir,
            converge_timeout,
            progress,
            op_timeout,
        )


def _run_nemesis(
    cluster: Cluster,
    seed: int,
    duration: float,
    faults: Iterable[str],
    workers: int,
    keys: int,
    out_dir: Path | str | None,
    converge_timeout: float,
    progress: Callable[[str], None] | None,
    op_timeout: float,
) -> dict[str, Any]:
    run = _Run(seed, duration, check_faults(faults), workers, keys, converge_timeout)
    nodes = cluster.topology.names()
    links = cluster.links()
    if "partition" in run.faults and not links:
        raise ClusterError(f"cluster {cluster.name} runs without link proxies: no partitions")
    not_running = sorted(set(nodes) - set(cluster.running_nodes()))
    if not_running:
        raise OperationFailed(
            f"nemesis needs every node running; not running: {', '.join(not_running)}"
        )
    cluster.wait_ready(converge_timeout)
    out = Path(out_dir) if out_dir else default_out_dir(cluster, seed)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    steps = plan(rng, nodes, links, run.faults, duration, *_membership(cluster))
    prefix = f"nem{seed}-{os.urandom(3).hex()}-"  # fresh keys: old data is not in this history
    keyspace = [f"{prefix}k{i}" for i in range(keys)]
    history = History()
    live, stop = Live({n: cluster.address(n) for n in nodes}), threading.Event()
    nemesis = Nemesis(cluster, live, history.now)
    creds = cluster.credentials()
    pool = [
        Worker(i, seed, keyspace, history, live, stop, op_timeout, creds) for i in range(workers)
    ]

    def say(text: str) -> None:
        if progress:
            c = history.counts()
            progress(f"{history.now():5.1f}/{duration:g}s ok {c['ok']} info {c['info']} | {text}")

    converged: float | None = None
    convergence_error = ""
    mark(cluster.dir, f"nemesis seed {seed}")  # until restored: a killed run's faults are known
    try:
        for w in pool:
            w.start()
        for i, step in enumerate(steps):
            if history.now() >= duration and i >= len(run.faults):  # each kind runs once
                break
            for f in step.faults:
                nemesis.apply(f)
            say(", ".join(f"{f.kind} {KINDS[f.kind].target(f)}" for f in step.faults) or "calm")
            _hold(step.hold, lambda: say("holding"))
            nemesis.undo(step.faults)
            _hold(min(step.gap, max(0.0, duration - history.now())), lambda: say("calm"))
    finally:
        stop.set()
        for w in pool:
            w.join(op_timeout + 30)
        nemesis.record("workers-stopped", ops=history.counts())
        nemesis.restore(converge_timeout)
        clear(cluster.dir)
    errors = [w.error for w in pool if w.error]
    if errors:
        raise errors[0]
    say("converging")
    try:
        converged = cluster.converge(converge_timeout)
        nemesis.record("converged", seconds=round(converged, 3))
    except ConvergeTimeout as exc:
        convergence_error = str(exc)
        nemesis.record("not-converged", detail=convergence_error)
    ops = history.snapshot()
    verdict = check(ops, read_final(cluster, keyspace, prefix))
    if convergence_error:
        verdict.valid = False
        verdict.anomalies.insert(
            0, {"kind": "non-convergence", "key": "", "detail": convergence_error}
        )
    return _write(run, cluster, out, verdict, nemesis.timeline, ops, converged, prefix)


def _membership(cluster: Cluster) -> tuple[list[str], bool]:
    """The nodes that may leave, and whether a new node can join without naming links."""
    return cluster.removable(), cluster.topology.shape != "explicit"


def _hold(seconds: float, tick: Callable[[], None]) -> None:
    """Hold for the scheduled time (the schedule, not synchronisation), ticking progress."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))
        tick()


def _write(
    run: _Run,
    cluster: Cluster,
    out: Path,
    verdict: Verdict,
    timeline: list[dict[str, Any]],
    ops: list,
    converged: float | None,
    prefix: str,
) -> dict[str, Any]:
    dump(ops, out / "history.jsonl")
    with open(out / "timeline.jsonl", "w") as f:
        for event in timeline:
            f.write(json.dumps(event) + "\n")
    injected = Counter(e["action"] for e in timeline if e["action"] in FAULTS)
    summary = {
        "cluster": cluster.name,
        "nodes": cluster.topology.names(),
        "seed": run.seed,
        "duration": run.duration,
        "faults": run.faults,
        "workers": run.workers,
        "keys": run.keys,
        "key_prefix": prefix,
        "verdict": "valid" if verdict.valid else "invalid",
        "valid": verdict.valid,
        "anomalies": verdict.anomalies,
        "ops": {t: n for t, n in count_types(ops).items() if t != "invoke"},
        "faults_injected": dict(sorted(injected.items())),
        "converged": converged is not None,
        "convergence_seconds": None if converged is None else round(converged, 3),
        "convergence_means": CONVERGENCE_MEANS,
        "out_dir": str(out),
        "replay": run.replay(cluster),
        "report": str(out / "report.html"),
    }
    summary["report_pictures"] = write_report(build(ops, timeline, summary), out / "report.html")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
