"""``cluster``: the command line, a thin shell over :class:`cluster.api.Cluster`.

Exit codes: 0 success, 1 the operation or check failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cluster.api import UNSUPERVISED, Cluster, ClusterError, ConvergeTimeout, NodeView
from cluster.faults.model import ProxyError
from cluster.nemesis import add_nemesis_parser
from cluster.supervisor import SupervisorError
from cluster.topology import TopologyError, load_topology


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


def status_table(rows: list[NodeView]) -> str:
    head = ["NODE", "STATE", "PID", "ADDRESS", "KEYS", "DIGEST", "LINKS", "LAG", "VV"]
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
        vv = "-" if r.vv is None else " ".join(f"{o}:{s}" for o, s in sorted(r.vv.items()))
        table.append(
            [
                r.name,
                r.state + (f" ({r.error})" if r.error else ""),
                str(r.pid or "-"),
                r.address,
                "-" if r.keys is None else str(r.keys),
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


def faults_line(faults: dict[str, dict]) -> str:
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


def _print_status(c: Cluster, as_json: bool) -> None:
    rows = c.status()
    faults = c.faults() if c.state["proxy"] and c.supervisor.is_running() else {}
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": c.name,
                    "state_dir": str(c.dir),
                    "faults": faults,
                    "nodes": [r.as_dict() for r in rows],
                },
                indent=2,
            )
        )
    else:
        print(status_table(rows))
        if c.state["proxy"]:
            print(faults_line(faults))
        if any(r.state == UNSUPERVISED for r in rows):
            print(
                "warning: supervisord is not running, but the nodes marked UNSUPERVISED are;"
                " `cluster down` stops them",
                file=sys.stderr,
            )


# --------------------------------------------------------------------- verbs
def cmd_up(args) -> int:
    progress = Progress()
    start = time.monotonic()
    try:
        c = Cluster.up(args.file, home=args.home, timeout=args.timeout, progress=progress)
    finally:
        progress.done()
    took = time.monotonic() - start
    if args.json:
        _print_status(c, True)
    else:
        print(f"cluster {c.name} up in {took:.1f}s (state in {c.dir})")
        _print_status(c, False)
    return 0


def cmd_down(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    for orphan in c.down(purge=args.purge):
        print(f"warning: supervisord was gone; stopped its leftover {orphan}", file=sys.stderr)
    print(f"cluster {c.name} down" + (" and purged" if args.purge else f"; data kept in {c.dir}"))
    return 0


def cmd_status(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    if not args.watch:
        _print_status(c, args.json)
        return 0
    try:
        while True:
            if not args.json and sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            _print_status(c, args.json)
            sys.stdout.flush()
            time.sleep(args.interval)  # a display refresh, not synchronisation
    except KeyboardInterrupt:
        return 0


def cmd_list(args) -> int:
    from cluster.api import default_home

    home = Path(args.home) if args.home else default_home()
    names = Cluster.list(home)
    rows = []
    for name in names:
        c = Cluster(home / name)
        rows.append(
            {
                "cluster": name,
                "up": c.supervisor.is_running(),
                "nodes": len(c.topology.nodes),
                "state_dir": str(c.dir),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no clusters in {home}")
    else:
        for r in rows:
            print(
                f"{r['cluster']:<20} {'up' if r['up'] else 'down':<5} {r['nodes']} nodes  "
                f"{r['state_dir']}"
            )
    return 0


def cmd_validate(args) -> int:
    t = load_topology(args.file)
    print(
        f"{args.file}: ok: cluster {t.name}, {len(t.nodes)} nodes, {len(t.links)} links "
        f"({t.shape}), proxies {'on' if t.proxies else 'off'}"
    )
    return 0


def _value(args) -> bytes:
    given = [args.value is not None, args.file is not None]
    if sum(given) > 1:
        raise ClusterError("give the value either as an argument or with --file, not both")
    if args.file is not None:
        if args.file == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(args.file).read_bytes()
        except OSError as exc:
            raise ClusterError(f"--file {args.file}: {exc.strerror}") from None
    if args.value is None:
        if sys.stdin.isatty():
            raise ClusterError("no value: give VALUE, --file PATH or pipe it on stdin")
        return sys.stdin.buffer.read()
    return args.value.encode()


def cmd_write(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    v = c.write(args.node, args.key.encode(), _value(args))
    if args.json:
        print(
            json.dumps(
                {"node": args.node, "key": args.key, "hlc": v.hlc, "origin": v.origin, "seq": v.seq}
            )
        )
    else:
        print(f"ok {args.node} seq {v.seq} hlc {v.hlc}")
    return 0


def cmd_read(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    value = c.read(args.node, args.key.encode())
    if value is None:
        print(f"{args.key}: not found on {args.node}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(value + (b"" if args.raw else b"\n"))
    return 0


def cmd_delete(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    v = c.delete(args.node, args.key.encode())
    print(f"deleted {args.key} on {args.node} seq {v.seq} hlc {v.hlc}")
    return 0


def cmd_scan(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    items = c.scan(args.node, args.prefix.encode(), args.limit)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "key": i.key.decode(errors="replace"),
                        "value": i.value.decode(errors="replace"),
                        "hlc": i.version.hlc,
                        "origin": i.version.origin,
                    }
                    for i in items
                ],
                indent=2,
            )
        )
    else:
        for i in items:
            print(f"{i.key.decode(errors='replace')}\t{i.value.decode(errors='replace')}")
    return 0


def _node_verb(method: str, done: str) -> Callable:
    def run(args) -> int:
        c = Cluster.open(args.cluster, args.home)
        getattr(c, method)(args.node)
        print(f"{args.node} {done}")
        return 0

    return run


def cmd_partition(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    groups = [[n for n in g.split(",") if n] for g in args.groups]
    result = c.partition(groups, args.mode)
    print(
        f"partitioned {' | '.join(','.join(g) for g in groups)} ({args.mode}): "
        f"{len(result.get('faults', {}))} links cut"
    )
    return 0


def cmd_isolate(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    result = c.isolate(args.node, args.mode)
    print(f"isolated {args.node} ({args.mode}): {len(result.get('faults', {}))} links cut")
    return 0


def cmd_heal(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    c.heal()
    print("healed: every link forwards again")
    return 0


def cmd_delay(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    c.delay(args.node, args.peer, args.ms)
    print(f"delay {args.node}<->{args.peer}: {args.ms} ms each way")
    return 0


def cmd_converge(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    progress = Progress()
    try:
        took = c.converge(args.timeout, progress=progress)
    except ConvergeTimeout as exc:
        progress.done()
        if args.json:
            print(json.dumps({"converged": False, "nodes": exc.report}, indent=2))
        raise
    progress.done()
    snap = c.snapshot()
    if args.json:
        print(json.dumps({"converged": True, "seconds": round(took, 4), "nodes": snap}, indent=2))
    else:
        print(
            f"converged in {took:.2f}s: {len(snap)} nodes, digest "
            f"{snap[0]['digest'][:12]}, {snap[0]['keys']} keys"
        )
    return 0


def cmd_bench(args) -> int:
    from cluster.bench import SECTIONS, BenchConfig, plot, run_bench, strip_samples, table

    sections = [s for s in args.only.split(",") if s] if args.only is not None else list(SECTIONS)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ClusterError(f"--only: unknown {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    cfg = BenchConfig(
        value_size=args.value_size,
        keys=args.keys,
        clients=args.clients,
        batch=args.batch,
        rates=[int(r) for r in args.rates.split(",")],
        latency_seconds=args.latency_seconds,
        throughput_seconds=args.throughput_seconds,
        catchup_entries=args.catchup_entries,
        heal_writes=args.heal_writes,
    )
    progress = Progress()
    owned = None
    try:
        needs_cluster = set(sections) - {"startup"}
        if args.file and needs_cluster:
            owned = Cluster.up(args.file, home=args.home, progress=progress)
            c = owned
        else:
            c = Cluster.open(args.cluster, args.home) if needs_cluster else None
        result = run_bench(c, cfg, sections, progress)
        if args.peers:
            from cluster.bench import bench_compare

            result["compare"] = bench_compare(cfg, progress, install=args.install)
    finally:
        progress.done()
        if owned is not None:
            owned.down(purge=True)
    if args.plot:
        plot(result, args.plot)
    clean = strip_samples(result)
    if args.out:
        Path(args.out).write_text(json.dumps(clean, indent=2) + "\n")
    if args.json:
        print(json.dumps(clean, indent=2))
    else:
        print(table(result))
        if "compare" in result:
            from cluster.bench import compare_table

            print("\n" + compare_table(result))
    return 0


def cmd_logs(args) -> int:
    c = Cluster.open(args.cluster, args.home)
    path = c.log_path(args.node)
    if not path.exists():
        raise ClusterError(f"no log yet at {path}", exit_code=1)
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-args.lines :] if args.lines else lines))
        sys.stdout.flush()
        if args.follow:
            try:
                while True:
                    chunk = f.read()
                    if chunk:
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)  # polling a file for new lines, like tail -f
            except KeyboardInterrupt:
                return 0
    return 0


# -------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    def add_common(parser: argparse.ArgumentParser, default) -> None:
        """--home/--cluster/--json work before or after the verb."""
        parser.add_argument(
            "--home",
            default=default(None),
            help="state directory root (default ./.cluster or $REMESH_HOME)",
        )
        parser.add_argument(
            "--cluster", default=default(None), help="cluster name, when there are several"
        )
        parser.add_argument(
            "--json", action="store_true", default=default(False), help="machine-readable output"
        )

    common = argparse.ArgumentParser(add_help=False)
    add_common(common, lambda _: argparse.SUPPRESS)  # a verb's copy wins only when given
    p = argparse.ArgumentParser(
        prog="cluster",
        description="Run remesh topologies as real processes, inject faults, check convergence.",
    )
    add_common(p, lambda value: value)
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, parents=[common], help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    sp = verb("up", cmd_up, "start a topology and wait until every node and link is up")
    sp.add_argument("file")
    sp.add_argument("--timeout", type=float, default=60)
    sp = verb("down", cmd_down, "stop every process of the cluster")
    sp.add_argument("--purge", action="store_true", help="also delete data and logs")
    sp = verb("status", cmd_status, "per node: process, keys, digest, links, lag, vv")
    sp.add_argument("--watch", action="store_true")
    sp.add_argument("--interval", type=float, default=1.0)
    verb("list", cmd_list, "clusters in the state directory")
    sp = verb("validate", cmd_validate, "check a topology file without starting anything")
    sp.add_argument("file")
    sp = verb("write", cmd_write, "write KEY=VALUE through NODE")
    sp.add_argument("node")
    sp.add_argument("key")
    sp.add_argument("value", nargs="?")
    sp.add_argument("--file", help="read the value from a file ('-' for stdin)")
    sp = verb("read", cmd_read, "print KEY's value at NODE (exit 1 when absent)")
    sp.add_argument("node")
    sp.add_argument("key")
    sp.add_argument("--raw", action="store_true", help="no trailing newline (binary values)")
    sp = verb("delete", cmd_delete, "delete KEY through NODE")
    sp.add_argument("node")
    sp.add_argument("key")
    sp = verb("scan", cmd_scan, "list keys under PREFIX at NODE")
    sp.add_argument("node")
    sp.add_argument("prefix", nargs="?", default="")
    sp.add_argument("--limit", type=int, default=0)
    for name, method, done, help in [
        ("kill", "kill", "killed (SIGKILL; not restarted)", "SIGKILL a node"),
        ("stop", "stop", "stopped", "stop a node gracefully (SIGTERM)"),
        ("start", "start", "started", "start a stopped or killed node"),
        ("restart", "restart", "restarted", "stop then start a node"),
        ("pause", "pause", "paused (SIGSTOP)", "freeze a node with SIGSTOP"),
        ("resume", "resume", "resumed (SIGCONT)", "resume a paused node"),
    ]:
        verb(name, _node_verb(method, done), help).add_argument("node")
    sp = verb("partition", cmd_partition, "cut links between groups, e.g. node-a node-b,node-c")
    sp.add_argument("groups", nargs="+", metavar="GROUP")
    sp.add_argument("--mode", choices=["blackhole", "reset"], default="blackhole")
    sp = verb("isolate", cmd_isolate, "cut every link of NODE")
    sp.add_argument("node")
    sp.add_argument("--mode", choices=["blackhole", "reset"], default="blackhole")
    verb("heal", cmd_heal, "remove every link fault")
    sp = verb("delay", cmd_delay, "add latency on the links between NODE and PEER")
    sp.add_argument("node")
    sp.add_argument("peer")
    sp.add_argument("ms", type=int)
    sp = verb("converge", cmd_converge, "wait until every running node has the same state")
    sp.add_argument("--timeout", type=float, default=60)
    sp = verb("bench", cmd_bench, "measure latency, throughput, catch-up, heal, fan-out, startup")
    sp.add_argument("file", nargs="?", help="bring this topology up for the run (and down after)")
    sp.add_argument("--only", help="comma list of: latency,throughput,catchup,heal,fanout,startup")
    sp.add_argument("--value-size", type=int, default=100)
    sp.add_argument("--keys", type=int, default=100_000)
    sp.add_argument("--clients", type=int, default=4, help="writer processes")
    sp.add_argument("--batch", type=int, default=500, help="writes per PutBatch")
    sp.add_argument("--rates", default="1000,10000", help="offered rates for latency (writes/s)")
    sp.add_argument("--latency-seconds", type=float, default=3.0)
    sp.add_argument("--throughput-seconds", type=float, default=10.0)
    sp.add_argument("--catchup-entries", type=int, default=1_000_000)
    sp.add_argument("--heal-writes", type=int, default=10_000, help="writes on each side")
    sp.add_argument(
        "--peers",
        action="store_true",
        help="also run remesh buffered/sync and etcd and Redis side by side",
    )
    sp.add_argument(
        "--install",
        action="store_true",
        help="with --peers: apt-get etcd-server and redis-server if missing (root)",
    )
    sp.add_argument("--out", help="also write the JSON result to this file")
    sp.add_argument("--plot", help="latency CDF per node to this PNG (needs matplotlib)")
    sp = verb("logs", cmd_logs, "print a node's log (or 'proxy')")
    sp.add_argument("node")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument("-n", "--lines", type=int, default=0)
    add_nemesis_parser(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (SupervisorError, ProxyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
