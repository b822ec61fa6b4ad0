"""Randomized faults against a running cluster, with a history checker at the end.

Client workers put and delete over a few keys (so conflicts are frequent) through
random live nodes and record every op (:mod:`cluster.history`) while the nemesis
applies faults: partitions of several shapes, kill -9 and restart, SIGSTOP and
SIGCONT, sometimes two at once, each held 0.5-3 s. Then everything is healed, the
cluster must converge, and the final state of every key at every node is judged
against the history (:mod:`cluster.checker`).

One ``random.Random(seed)`` plans the whole fault schedule up front and seeds each
worker's op choices, so a seed replays the same schedule and op sequence; only the
interleaving depends on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc

from cluster.api import Cluster, ClusterError, ConvergeTimeout
from cluster.checker import FinalState, Verdict, check
from cluster.faults.model import partition_faults, split_link
from cluster.history import History, Op, count_types, dump
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

FAULTS = ("partition", "kill", "pause")
SHAPES = ("halves", "isolate", "bridge", "ring")
HOLD = (0.5, 3.0)  # seconds a fault is held
GAP = (0.2, 1.0)  # seconds of calm between faults, so replication gets a chance
TWO_AT_ONCE = 0.25
DELETE_RATIO = 0.2
ANYWHERE = 0.05  # share of ops sent to any node, down or not: exercises fail and info
THINK = 0.02  # max pause between a worker's ops: load, not synchronisation
# Clients reconnect fast after a kill; grpc's default backoff grows to minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 300),
]


# ------------------------------------------------------------------ planning
@dataclass(frozen=True)
class Fault:
    kind: str  # partition / kill / pause
    node: str = ""  # kill and pause target
    shape: str = ""  # partition shape
    cuts: tuple[str, ...] = ()  # partition: directed links cut
    groups: tuple[tuple[str, ...], ...] = ()
    middle: str = ""  # bridge: the node both groups still see
    mode: str = "blackhole"

    def detail(self) -> dict[str, Any]:
        if self.kind != "partition":
            return {"node": self.node}
        out = {"shape": self.shape, "mode": self.mode, "groups": [list(g) for g in self.groups]}
        return out | ({"middle": self.middle} if self.middle else {}) | {"cuts": list(self.cuts)}


@dataclass(frozen=True)
class Step:
    faults: tuple[Fault, ...]
    hold: float
    gap: float


def _partition(rng: random.Random, nodes: list[str], links: list[str]) -> Fault | None:
    n = len(nodes)
    shapes = [s for s in SHAPES if n >= 3 or s in ("halves", "isolate")]
    for _ in range(8):
        shape = rng.choice(shapes)
        order = rng.sample(nodes, n)
        cuts: set[str] = set()
        groups: list[list[str]] = []
        if shape == "halves":
            groups = [order[: n // 2], order[n // 2 :]]
        elif shape == "isolate":
            groups = [order[:1], order[1:]]
        elif shape == "bridge":  # order[0] is the middle node every other node still sees
            k = rng.randint(1, n - 2)
            groups = [order[1 : 1 + k], order[1 + k :]]
        if groups:
            cuts = set(partition_faults(groups, links))
        elif n == 3:  # ring of three: each node cut from pulling one peer (one way)
            cuts = {f"{order[i]}>{order[(i + 1) % n]}" for i in range(n)} & set(links)
        else:  # ring: each node keeps only its two ring neighbours
            near = {frozenset((order[i], order[(i + 1) % n])) for i in range(n)}
            cuts = {lk for lk in links if frozenset(split_link(lk)) not in near}
        if cuts:
            mode = "reset" if rng.random() < 0.25 else "blackhole"
            return Fault(
                "partition",
                shape=shape,
                cuts=tuple(sorted(cuts)),
                groups=tuple(tuple(g) for g in groups) or (tuple(order),),  # ring: its order
                middle=order[0] if shape == "bridge" else "",
                mode=mode,
            )
    return None


def plan(
    rng: random.Random, nodes: list[str], links: list[str], faults: Iterable[str], duration: float
) -> list[Step]:
    """The fault schedule: the first steps apply each allowed kind once, then at random."""
    allowed = sorted(set(faults))
    first = rng.sample(allowed, len(allowed))
    steps: list[Step] = []
    total = 0.0
    while total < duration or first:
        kinds = [first.pop(0) if first else rng.choice(allowed)]
        if rng.random() < TWO_AT_ONCE:
            kinds.append(rng.choice(allowed))
        chosen: list[Fault] = []
        for kind in kinds:
            taken = {f.node for f in chosen if f.node}
            if kind == "partition":
                fault = _partition(rng, nodes, links) if links else None
            elif len(taken) + 1 < len(nodes):  # always leave a node up for the clients
                fault = Fault(kind, node=rng.choice([n for n in nodes if n not in taken]))
            else:
                fault = None
            if fault:
                chosen.append(fault)
        step = Step(tuple(chosen), round(rng.uniform(*HOLD), 3), round(rng.uniform(*GAP), 3))
        steps.append(step)
        total += step.hold + step.gap
    return steps


# ------------------------------------------------------------------- workers
class _Live:
    """Each node's state as the nemesis left it: up, paused or killed (thread-safe)."""

    def __init__(self, nodes: list[str]) -> None:
        self._lock = threading.Lock()
        self._state = dict.fromkeys(nodes, "up")

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(n for n, s in self._state.items() if s == "up")

    def state(self, node: str) -> str:
        with self._lock:
            return self._state[node]

    def set(self, node: str, state: str) -> None:
        with self._lock:
            self._state[node] = state


class _Worker(threading.Thread):
    def __init__(
        self,
        index: int,
        seed: int,
        cluster: Cluster,
        keys: list[str],
        history: History,
        live: _Live,
        stop: threading.Event,
        op_timeout: float,
    ) -> None:
        super().__init__(name=f"nemesis-worker-{index}", daemon=True)
        self.index, self.keys, self.history, self.live = index, keys, history, live
        self.stop, self.op_timeout = stop, op_timeout
        self.rng = random.Random(f"{seed}/worker/{index}")
        self.addresses = {n: cluster.address(n) for n in cluster.topology.names()}
        self.error: BaseException | None = None

    def run(self) -> None:
        channels = {
            n: grpc.insecure_channel(a, options=CHANNEL_OPTIONS) for n, a in self.addresses.items()
        }
        stubs = {n: pb_grpc.KVStub(ch) for n, ch in channels.items()}
        try:
            count = 0
            while not self.stop.is_set():
                count += 1
                self._one(stubs, count)
        except BaseException as exc:  # noqa: BLE001 - reported by run_nemesis
            self.error = exc
        finally:
            for ch in channels.values():
                ch.close()

    def _one(self, stubs: dict[str, pb_grpc.KVStub], count: int) -> None:
        rng = self.rng
        key = rng.choice(self.keys)
        op = "delete" if rng.random() < DELETE_RATIO else "put"
        anywhere, pick, think = rng.random() < ANYWHERE, rng.random(), rng.uniform(0, THINK)
        choices = self.live.nodes() if not anywhere else []
        choices = choices or sorted(stubs)
        node = choices[int(pick * len(choices))]
        value = f"w{self.index}-{count}" if op == "put" else None
        inv = self.history.invoke(self.index, node, op, key, value)
        if self.live.state(node) == "paused":  # like Cluster's client: refuse, never send
            self.history.complete(inv, "fail", error=f"refused before sending: {node} is paused")
        else:
            self._send(stubs[node], inv)
        self.stop.wait(think)

    def _send(self, stub: pb_grpc.KVStub, inv: Op) -> None:
        key = inv.key.encode()
        try:
            if inv.op == "put":
                req = pb.PutRequest(key=key, value=(inv.value or "").encode())
                resp = stub.Put(req, timeout=self.op_timeout)
            else:
                resp = stub.Delete(pb.DeleteRequest(key=key), timeout=self.op_timeout)
        except grpc.RpcError as exc:
            call = cast(grpc.Call, exc)  # a failed sync call's error is also its Call
            code = call.code()
            kind = "fail" if code == grpc.StatusCode.INVALID_ARGUMENT else "info"
            self.history.complete(inv, kind, error=f"{code.name}: {call.details()}")
            return
        v = resp.version
        self.history.complete(inv, "ok", hlc=v.hlc, origin=v.origin, seq=v.seq)


# ------------------------------------------------------------------- nemesis
class _Nemesis:
    """Applies and undoes faults on ``cluster`` and records the timeline."""

    def __init__(self, cluster: Cluster, live: _Live, clock: Callable[[], float]) -> None:
        self.c, self.live, self.clock = cluster, live, clock
        self.timeline: list[dict[str, Any]] = []
        self.killed: set[str] = set()
        self.paused: set[str] = set()

    def record(self, action: str, **detail: Any) -> None:
        self.timeline.append({"time": self.clock(), "action": action, "detail": detail})

    def apply(self, f: Fault) -> None:
        if f.kind == "partition":
            self.c.proxy.set_faults({lk: {"mode": f.mode} for lk in f.cuts})
        elif f.kind == "kill":
            self.c.kill(f.node)
            self.killed.add(f.node)
        else:
            self.c.pause(f.node)
            self.paused.add(f.node)
        if f.node:
            self.live.set(f.node, "killed" if f.kind == "kill" else "paused")
        self.record(f.kind, **f.detail())

    def undo(self, faults: Iterable[Fault], start_timeout: float = 60) -> None:
        """Heal links first, then resume, then restart: a restart waits for its links."""
        order = {"partition": 0, "pause": 1, "kill": 2}
        for f in sorted(faults, key=lambda f: order[f.kind]):
            if f.kind == "partition":
                self.c.proxy.set_faults({lk: {"mode": "ok"} for lk in f.cuts})
                self.record("heal", links=len(f.cuts), shape=f.shape)
            elif f.kind == "pause":
                self.c.resume(f.node)
                self.paused.discard(f.node)
                self.record("resume", node=f.node)
            else:
                self.c.start(f.node, timeout=start_timeout)
                self.killed.discard(f.node)
                self.record("start", node=f.node)
            if f.node:
                self.live.set(f.node, "up")

    def restore(self, timeout: float) -> None:
        """Whatever happened, leave every link healed and every node running and ready."""
        if self.c.state["proxy"]:
            self.c.heal()
        for n in sorted(self.paused):
            self.c.resume(n)
            self.live.set(n, "up")
            self.record("resume", node=n)
        self.paused.clear()
        for n in sorted(self.killed):
            self.c.start(n, timeout=timeout)
            self.live.set(n, "up")
            self.record("start", node=n)
        self.killed.clear()
        self.c.wait_ready(timeout)
        self.record("restored")


# ---------------------------------------------------------------------- run
def read_final(
    cluster: Cluster, keys: Iterable[str], prefix: str
) -> dict[str, dict[str, FinalState | None]]:
    """Every key's state at every node via Get (tombstones carry a version, never-written don't)."""
    out: dict[str, dict[str, FinalState | None]] = {}
    nodes = cluster.topology.names()
    wanted = set(keys)
    for n in nodes:  # a key outside the key space would be a phantom: scan for it too
        items = cluster.kv(n).Scan(pb.ScanRequest(prefix=prefix.encode()), timeout=30).items
        wanted |= {i.key.decode(errors="replace") for i in items}
    for n in nodes:
        states: dict[str, FinalState | None] = {}
        for key in sorted(wanted):
            r = cluster.kv(n).Get(pb.GetRequest(key=key.encode()), timeout=10)
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
        raise ClusterError(f"{what}; valid faults: {', '.join(FAULTS)}", exit_code=2)
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
    faults: Iterable[str] = FAULTS,
    workers: int = 4,
    keys: int = 8,
    out_dir: Path | str | None = None,
    converge_timeout: float = 60,
    progress: Callable[[str], None] | None = None,
    op_timeout: float = 1.0,
) -> dict[str, Any]:
    """Workload and faults for ``duration`` s; heal, converge, check; write and return a summary."""
    run = _Run(seed, duration, check_faults(faults), workers, keys, converge_timeout)
    nodes = cluster.topology.names()
    links = list(cluster.state["proxy"]["links"]) if cluster.state["proxy"] else []
    if "partition" in run.faults and not links:
        raise ClusterError(f"cluster {cluster.name} runs without link proxies: no partitions")
    not_running = sorted(set(nodes) - set(cluster.running_nodes()))
    if not_running:
        raise ClusterError(
            f"nemesis needs every node running; not running: {', '.join(not_running)}", 1
        )
    cluster.wait_ready(converge_timeout)
    out = Path(out_dir) if out_dir else default_out_dir(cluster, seed)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    steps = plan(rng, nodes, links, run.faults, duration)
    prefix = f"nem{seed}-{os.urandom(3).hex()}-"  # fresh keys: old data is not in this history
    keyspace = [f"{prefix}k{i}" for i in range(keys)]
    history = History()
    live, stop = _Live(nodes), threading.Event()
    nemesis = _Nemesis(cluster, live, history.now)
    pool = [
        _Worker(i, seed, cluster, keyspace, history, live, stop, op_timeout) for i in range(workers)
    ]

    def say(text: str) -> None:
        if progress:
            c = history.counts()
            progress(f"{history.now():5.1f}/{duration:g}s ok {c['ok']} info {c['info']} | {text}")

    converged: float | None = None
    convergence_error = ""
    try:
        for w in pool:
            w.start()
        for i, step in enumerate(steps):
            if history.now() >= duration and i >= len(run.faults):  # each kind runs once
                break
            for f in step.faults:
                nemesis.apply(f)
            say(", ".join(f.kind + (f" {f.node or f.shape}") for f in step.faults) or "calm")
            _hold(step.hold, lambda: say("holding"))
            nemesis.undo(step.faults)
            _hold(min(step.gap, max(0.0, duration - history.now())), lambda: say("calm"))
    finally:
        stop.set()
        for w in pool:
            w.join(op_timeout + 30)
        nemesis.record("workers-stopped", ops=history.counts())
        nemesis.restore(converge_timeout)
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
        "out_dir": str(out),
        "replay": run.replay(cluster),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------- CLI
def parse_duration(text: str) -> float:
    """``30s``, ``2m``, ``45``, ``1.5s``, ``500ms`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 2m or 45, got {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def cmd_nemesis(args: argparse.Namespace) -> int:
    from cluster.cli import Progress  # cli imports this module: import late

    faults = check_faults(args.faults.split(","))
    cluster = Cluster.open(args.cluster, args.home)
    progress = Progress()
    try:
        s = run_nemesis(
            cluster,
            args.seed,
            args.duration,
            faults,
            args.workers,
            args.keys,
            args.out,
            args.converge_timeout,
            progress,
        )
    finally:
        progress.done()
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        ops = s["ops"]
        inj = ", ".join(f"{k} {n}" for k, n in s["faults_injected"].items()) or "none"
        conv = (
            f"converged in {s['convergence_seconds']:.2f}s" if s["converged"] else "NOT converged"
        )
        print(
            f"nemesis {s['cluster']} seed {s['seed']}: {s['verdict'].upper()}: "
            f"ops ok {ops['ok']} info {ops['info']} fail {ops['fail']}; faults {inj}; {conv}"
        )
        for a in s["anomalies"][:20]:
            print(f"  {a['kind']} {a['key']}: {a['detail']}")
        if len(s["anomalies"]) > 20:
            print(f"  ... {len(s['anomalies']) - 20} more in {s['out_dir']}/summary.json")
        print(f"results in {s['out_dir']}")
    if not s["valid"]:
        print(f"invalid run, seed {s['seed']}; replay with:\n  {s['replay']}", file=sys.stderr)
        return 1
    return 0


def add_nemesis_parser(sub: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register ``cluster nemesis`` on the CLI's subparsers."""
    help = "random faults under a client workload, then check the history (exit 1 if invalid)"
    sp = sub.add_parser("nemesis", parents=[common], help=help, description=help)
    sp.set_defaults(func=cmd_nemesis)
    sp.add_argument("--seed", type=int, required=True, help="replays the same fault schedule")
    sp.add_argument("--duration", type=parse_duration, default=30.0, help="e.g. 30s, 2m (30s)")
    sp.add_argument("--faults", default=",".join(FAULTS), help=f"comma list of {', '.join(FAULTS)}")
    sp.add_argument("--workers", type=_positive, default=4, help="client threads (4)")
    sp.add_argument(
        "--keys", type=_positive, default=8, help="key space size; small means conflicts (8)"
    )
    sp.add_argument("--out", help="results dir (nemesis-results/<cluster>-seed<N>-<time>/)")
    sp.add_argument("--converge-timeout", type=float, default=60, help="seconds (60)")
    return sp
