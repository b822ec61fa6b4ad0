"""``python -m cluster.bench.memory``: the hardening issue's four memory cases, measured.

Each case runs against a fresh mesh3 cluster (real processes) and reports every node's
resident memory before and after, and its peak (VmHWM), from /proc:

1. ``big-values``: 600 writes of 1 MiB to 10 keys through node-a;
2. ``idle-watchers``: 200 Watch streams on node-a that never read, under 50,000 writes;
3. ``huge-ack``: a Replicate stream to node-a whose Ack names 200,000 origins;
4. ``fake-subscribers``: 2,000 streams that say Hello under made-up names and leave.

Figures depend on the machine: run them in one session and compare ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc

from cluster.api import Cluster
from cluster.bench.machine import machine_info
from cluster.catalog import resolve_topology
from cluster.client import open_channel
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

MIB = 1 << 20


def rss(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of ``pid`` in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def big_values(c: Cluster) -> str:
    for i in range(600):
        c.write("node-a", b"big-%d" % (i % 10), b"x" * MIB, timeout=30)
    c.converge(120)
    return "600 x 1 MiB to 10 keys"


def idle_watchers(c: Cluster) -> str:
    channel = open_channel("node-a", c.address("node-a"), c.credentials())
    stub = pb_grpc.KVStub(channel)
    calls = [stub.Watch(pb.WatchRequest(prefix=b"")) for _ in range(200)]  # never read
    for i in range(0, 50_000, 500):
        c.write_batch("node-a", [(b"w-%d" % (i + j), b"v" * 100) for j in range(500)])
    c.converge(120)
    for call in calls:
        call.cancel()
    channel.close()
    return "200 Watch streams never read, 50,000 writes"


def _replicate(c: Cluster, messages: Iterator[pb.SubscriberMessage]) -> str:
    options = [("grpc.max_send_message_length", -1)]
    channel = open_channel("node-a", c.address("node-a"), c.credentials(), options)
    try:
        for _ in pb_grpc.ReplicationStub(channel).Replicate(messages, timeout=30):
            pass
        return "stream ended"
    except grpc.RpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    finally:
        channel.close()


def _hello(name: str, c: Cluster) -> pb.SubscriberMessage:
    """A Hello the node accepts: its cluster and tenant, a made-up node name."""
    hello = pb.Hello(protocol=1, cluster=c.name, tenant=c.topology.tenant, node_id=name)
    return pb.SubscriberMessage(hello=hello)


def huge_ack(c: Cluster) -> str:
    def messages() -> Iterator[pb.SubscriberMessage]:
        yield _hello("fake-ack", c)
        vv = {f"o{i}@{i:012x}": 1 for i in range(200_000)}
        yield pb.SubscriberMessage(ack=pb.Ack(vv=vv))

    return "Ack of 200,000 origins: " + _replicate(c, messages())


def fake_subscribers(c: Cluster) -> str:
    for i in range(2000):
        _replicate(c, iter([_hello(f"fake-{i}", c)]))  # Hello, then leave
    listed = len(c.node_status("node-a").peers)
    return f"2,000 subscribers came and went; node-a's status lists {listed} peers"


CASES: dict[str, Callable[[Cluster], str]] = {
    "big-values": big_values,
    "idle-watchers": idle_watchers,
    "huge-ack": huge_ack,
    "fake-subscribers": fake_subscribers,
}


def run_case(name: str, home: Path) -> dict[str, Any]:
    c = Cluster.up(resolve_topology("mesh3"), home=home / name)
    try:
        pids = {n: c.processes()[n].pid for n in c.topology.names()}
        before = {n: rss(p) for n, p in pids.items()}
        what = CASES[name](c)
        after = {n: rss(p) for n, p in pids.items()}
        return {"case": name, "what": what, "before_mib": before, "after_mib": after}
    finally:
        c.down(purge=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cluster.bench.memory", description=__doc__)
    p.add_argument("--only", default=",".join(CASES), help="cases, comma-separated")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(CASES)
    if unknown:
        print(f"error: unknown case {', '.join(sorted(unknown))}; known: {', '.join(CASES)}")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_case(n, Path(tmp)) for n in names]
        out = {"machine": machine_info(Path(tmp)), "results": results}
    json.dump(out, sys.stdout, indent=2)
    print()
    for r in results:
        peaks = ", ".join(f"{n} {v['VmHWM']:.0f}" for n, v in r["after_mib"].items())
        print(f"{r['case']:<17} {r['what']}\n{'':<17} peak RSS MiB: {peaks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
