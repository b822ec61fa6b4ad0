"""Redis's side: a primary and two replicas on loopback, persistence off."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.bench.phases import (
    LATENCY_WRITERS,
    BenchFailed,
    LatencyWriteFn,
    Observer,
    SendFn,
    make_keys,
    make_value,
    run_latency,
    run_load,
    wait_converged,
)
from cluster.bench.results import attach_latency, row
from cluster.bench.servers import ProcessGroup
from cluster.ports import free_ports
from cluster.wait import wait_for

HOST = "127.0.0.1"
PIPELINE = 100
REDIS_DURABILITY = "no fsync (appendonly no, save ''); ack by primary only, async replicas"


def start_redis(group: ProcessGroup, root: Path, timeout: float, redis: Any) -> list[int]:
    """A primary and two replicas with persistence off; returns [primary, *replicas]
    once both replicas' links are up and the primary lists them online."""
    ports = free_ports(3)
    for i, port in enumerate(ports):
        data = root / f"redis{i}"
        data.mkdir()
        argv = [
            "redis-server", "--port", str(port), "--bind", HOST, "--dir", str(data),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if i:
            argv += ["--replicaof", HOST, str(ports[0])]
        group.start(f"redis{i}", argv)

    def linked() -> bool:
        group.check_alive()
        info = redis.Redis(host=HOST, port=ports[0], socket_timeout=2).info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        if len(online) != 2 or any(s.get("state") != "online" for s in online):
            return False
        return all(
            redis.Redis(host=HOST, port=p, socket_timeout=2).info("replication")
            .get("master_link_status") == "up"
            for p in ports[1:]
        )  # fmt: skip

    wait_for(linked, timeout=timeout, what="both Redis replicas to link to the primary")
    return ports


class RedisKeyspace:
    """Keyspace notifications from one Redis server for the latency writers' keys.

    The primary fires them as it executes a SET and a replica as it applies the
    primary's stream, in order; each writer
    SETs its own key ``lat:<w>`` with sequential writes, so the n-th ``set`` on
    ``lat:<w>`` means the replica holds that writer's write n. Notifications are
    enabled only for this phase, so they cost the throughput runs nothing.
    """

    def __init__(self, redis: Any, port: int, writers: int) -> None:
        self.client = redis.Redis(host=HOST, port=port, socket_timeout=10)
        self.client.config_set("notify-keyspace-events", "K$")
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("__keyspace@0__:lat:*")
        deadline = time.monotonic() + 10
        while (msg := self.pubsub.get_message(timeout=1)) is None or msg["type"] != "psubscribe":
            if time.monotonic() > deadline:
                raise BenchFailed(f"redis replica {port}: no psubscribe confirmation")
        self.counts = [0] * writers

    def next(self) -> list[int] | None:
        msg = self.pubsub.get_message(timeout=0.2)
        if msg is None or msg["type"] != "pmessage" or msg["data"] != b"set":
            return None
        self.counts[int(msg["channel"].rsplit(b":", 1)[1])] += 1
        return list(self.counts)

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


def bench_redis(
    group: ProcessGroup, root: Path, w: dict[str, Any], redis: Any, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Redis: one unpipelined and one pipelined load on the primary, then latency."""
    ports = start_redis(group, root, w["timeout"], redis)
    log(f"redis: primary {ports[0]}, replicas {ports[1:]}")
    keys = make_keys(w["keys"])
    value = make_value(w["value_size"])
    nkeys = w["keys"]

    def client(port: int) -> Any:
        return redis.Redis(host=HOST, port=port, socket_timeout=10, single_connection_client=True)

    clients = [client(p) for p in ports]

    def replicated() -> bool:
        top = clients[0].info("replication")["master_repl_offset"]
        return all(c.info("replication")["slave_repl_offset"] >= top for c in clients[1:])

    def connect_plain(t: int) -> SendFn:
        r = client(ports[0])
        r.ping()

        def send(chunk: Sequence[int]) -> int:
            for j in chunk:
                r.set(keys[j % nkeys], value)
            return 0

        return send

    def connect_piped(t: int) -> SendFn:
        r = client(ports[0])
        r.ping()

        def send(chunk: Sequence[int]) -> int:
            pipe = r.pipeline(transaction=False)
            for j in chunk:
                pipe.set(keys[j % nkeys], value)
            pipe.execute()
            return 0

        return send

    rows = []
    for label, connect, batch in (
        ("redis", connect_plain, 1),
        (f"redis pipelined {PIPELINE}", connect_piped, PIPELINE),
    ):
        clients[0].flushall()
        if wait_converged(replicated, w["timeout"]) is None:
            raise BenchFailed("Redis replicas did not catch up after FLUSHALL")
        load = run_load(connect, w["writes"], w["concurrency"], batch, w["timeout"], w["processes"])
        log(f"{label}: {load.acked:,} writes acked in {load.seconds:.2f} s; waiting for replicas")
        top: int = clients[0].info("replication")["master_repl_offset"]

        def caught_up(top: int = top) -> bool:
            return all(c.info("replication")["slave_repl_offset"] >= top for c in clients[1:])

        converged = wait_converged(caught_up, w["timeout"])
        how = (
            f"pipelines of {PIPELINE} SETs (no MULTI) per round trip; a write's ack is its batch's"
            if batch > 1
            else "one SET per round trip, no pipelining"
        )
        notes = [
            f"{w['concurrency']} redis-py connections to the primary; {how}",
            "converged = both replicas' slave_repl_offset >= primary master_repl_offset",
        ]
        rows.append(row(label, REDIS_DURABILITY, load, converged, notes))

    def writer(wi: int) -> LatencyWriteFn:
        r = client(ports[0])
        key = f"lat:{wi}"

        def send(i: int) -> tuple[int, int, int]:
            seq = i // LATENCY_WRITERS + 1
            r.set(key, seq)
            return wi, seq, 0  # member 0 of the observers: the primary

        return send

    def watcher(port: int) -> Callable[[], Observer]:
        return lambda: RedisKeyspace(redis, port, LATENCY_WRITERS)

    log(f"redis: latency at {w['latency_rate']}/s for {w['latency_seconds']} s")
    latency = run_latency(
        writer, [watcher(p) for p in ports], w["latency_rate"], w["latency_seconds"],
        w["timeout"],
    )  # fmt: skip
    attach_latency(
        rows[0], latency, "keyspace notifications (pub/sub) on the primary and each replica"
    )
    for c in clients:
        c.close()
    return rows
