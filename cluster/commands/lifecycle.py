"""Whole-cluster verbs: ``up``, ``down``, ``status``, ``list``, ``validate``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cluster.api import Cluster
from cluster.argtypes import seconds
from cluster.backends.registry import NAMES, traits
from cluster.catalog import resolve_topology
from cluster.commands import AddVerb, lock_wait, open_cluster, waits
from cluster.commands.output import Progress, print_status, timed
from cluster.home import home_of
from cluster.salvage import down_damaged
from cluster.state import STATE_FILE, ClusterState, find
from cluster.statefile import DamagedState
from cluster.topology import load_topology


def _prepare(args: argparse.Namespace) -> None:
    """The backend's preparation first (on Docker, the node image, built if missing),
    its progress on stderr with the elapsed time, then what it did."""
    if args.file:
        topo = load_topology(resolve_topology(args.file))
        state_dir, backend = home_of(args.home) / topo.name, topo.backend
    else:  # the stored cluster: the backend it ran on
        state_dir = find(args.cluster, home_of(args.home))
        backend = ClusterState.load(state_dir).backend
    before = ClusterState.load(state_dir).backend if (state_dir / STATE_FILE).exists() else None
    done = traits(args.backend or before or backend).run_prepare(timed())
    if done:
        print(done, file=sys.stderr)


def up(args: argparse.Namespace) -> int:
    _prepare(args)
    progress = Progress()
    start = time.monotonic()
    try:
        c = Cluster.up(
            args.file,
            home=args.home,
            timeout=args.timeout,
            progress=progress,
            force=args.force,
            tls=args.tls,
            backend=args.backend,
            lock_wait=lock_wait(args),
            name=args.cluster,
        )
    finally:
        progress.done()
    took = time.monotonic() - start
    for note in c.notes:
        print(f"note: {note}", file=sys.stderr)
    if c.reconciled is not None:
        print(c.reconciled.describe(c.name), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print_status(c, True)
    else:
        print(f"cluster {c.name} up in {took:.1f}s on {c.backend} (state in {c.dir})")
        print_status(c, False)
    return 0


def down(args: argparse.Namespace) -> int:
    state_dir = find(args.cluster, home_of(args.home))
    try:
        c = Cluster(state_dir)
    except DamagedState as exc:  # what is damaged must not keep its processes running
        print(
            f"warning: {exc.problem}; stopping what runs under {state_dir}",
            file=sys.stderr,
        )
        orphans = down_damaged(state_dir, args.purge, args.timeout)
        name = state_dir.name
    else:
        c.lock_wait = lock_wait(args)
        orphans, name = c.down(purge=args.purge, timeout=args.timeout), c.name
    for orphan in orphans:
        print(f"warning: supervisord was gone; stopped its leftover {orphan}", file=sys.stderr)
    print(f"cluster {name} down" + (" and purged" if args.purge else f"; data kept in {state_dir}"))
    return 0


def rotate_secrets(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    c.rotate_secrets()
    what = "token, CA and certificates" if c.tls else "token"
    print(f"cluster {c.name}: new {what} in {c.dir / 'secrets'}; `cluster up` uses them")
    return 0


def status(args: argparse.Namespace) -> int:
    c = open_cluster(args)
    if not args.watch:
        print_status(c, args.json, args.verbose)
        return 0
    try:
        while True:
            if not args.json and sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            print_status(c, args.json, args.verbose)
            sys.stdout.flush()
            time.sleep(args.interval)  # a display refresh, not synchronisation
    except KeyboardInterrupt:
        return 0


def list_clusters(args: argparse.Namespace) -> int:
    home = home_of(args.home)
    rows: list[dict[str, object]] = []
    for name in Cluster.list(home):
        try:
            c = Cluster(home / name)
        except DamagedState as exc:  # one bad cluster must not hide the others
            rows.append(
                {
                    "cluster": name,
                    "up": None,
                    "nodes": None,
                    "state_dir": str(home / name),
                    "error": str(exc),
                }
            )
            continue
        rows.append(
            {
                "cluster": name,
                "up": c.is_up(),
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
            if "error" in r:
                print(f"{r['cluster']:<20} {'?':<5} damaged: {r['error']}")
                continue
            print(
                f"{r['cluster']:<20} {'up' if r['up'] else 'down':<5} {r['nodes']} nodes  "
                f"{r['state_dir']}"
            )
    return 0


def validate(args: argparse.Namespace) -> int:
    path = resolve_topology(args.file)
    t = load_topology(path)
    print(
        f"{path}: ok: cluster {t.name}, {len(t.nodes)} nodes, {len(t.links)} links "
        f"({t.shape}), proxies {'on' if t.proxies else 'off'}, tls {'on' if t.tls else 'off'}"
    )
    return 0


def register(add: AddVerb) -> None:
    sp = waits(add("up", up, "start a topology and wait until every node and link is up"))
    sp.add_argument(
        "file",
        nargs="?",
        help="a topology file, or a built-in's name (`cluster topologies`); none: the "
        "stored cluster (--cluster, or the only one) back as it was, members added included",
    )
    sp.add_argument("--timeout", type=seconds, default=60)
    sp.add_argument(
        "--backend",
        choices=NAMES,
        help="what runs the processes (default: the file's `backend:`, else supervisor)",
    )
    sp.add_argument(
        "--force",
        action="store_true",
        help="when the file no longer names some members, remove them (each checked first "
        "to be held by the others, as `cluster remove`); without it such an up exits 2",
    )
    sp.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mutual TLS between nodes and for the tool, on unless the file says `tls: false`; "
        "--no-tls: plaintext, the token proved by challenge and never sent (README, Security)",
    )
    sp = waits(add("down", down, "stop every process of the cluster"))
    sp.add_argument("--purge", action="store_true", help="also delete data and logs")
    sp.add_argument(
        "--timeout",
        type=seconds,
        default=60,
        help="seconds to wait for a nemesis or bench it stops first (60)",
    )
    waits(
        add(
            "rotate-secrets",
            rotate_secrets,
            "new token and certificates (the cluster must be down)",
        )
    )
    sp = add("status", status, "per node: process, keys, digest, links, lag (README: every column)")
    sp.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="every column (replica, tombstones, log, vv) and whole notes; --json has all",
    )
    sp.add_argument("--watch", action="store_true")
    sp.add_argument("--interval", type=seconds, default=1.0, help="seconds between")
    add("list", list_clusters, "clusters in the state directory")
    sp = add("validate", validate, "check a topology file without starting anything")
    sp.add_argument("file")
