"""Bench results as text and pictures: the remesh table, the side-by-side table, the CDF plot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cluster.errors import ClusterError


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    cl = result.get("cluster", {})
    cfg = result["config"]
    lines = [
        f"machine: {m['nproc']} cores, {m['cpu_model']}, Python {m['python']}, "
        f"data on {m['data_dir_fs']}, load at start {m['loadavg_at_start']}"
    ]
    if cl:
        lines.append(
            f"cluster: {cl['name']} ({cl['nodes']} nodes, {cl['shape']}, "
            f"durability {cl['durability']}, proxies {'on' if cl['proxies'] else 'off'})"
            f", value {cfg['value_size']} B, key space {cfg['keys']}"
        )
    rows = [("measure", "result")]
    for rate, r in result.get("latency", {}).items():
        a = r["all_ms"]
        rows.append(
            (
                f"replication latency @ {rate}/s (offered {r['offered_per_s']}/s)",
                f"p50 {a['p50']:.2f} ms  p99 {a['p99']:.2f} ms  max {a['max']:.2f} ms"
                + (f"  NOT AT THAT RATE: {r['behind']}" if r.get("behind") else ""),
            )
        )
    if "throughput" in result:
        t = result["throughput"]
        rows.append(
            (
                "sustained throughput (acked)",
                f"{t['acked_per_s']:,} writes/s ({t['clients']} processes x "
                f"{t['concurrency']} in flight, batch {t['batch']}; generator "
                f"{t['generator_cpu_per_write_us']} us CPU per write"
                + (", SATURATED: the generator limited this)" if t["generator_saturated"] else ")"),
            )
        )
        rows.append(
            (
                "  converged (incl. drain after load)",
                f"{t['converged_per_s']:,} writes/s (drain {t['converge_after_load_s']} s,"
                f" max lag {t['max_lag_entries']:,}"
                + (
                    f"; {t['snapshots']} snapshot(s): a node fell far enough behind)"
                    if t.get("snapshots")
                    else ")"
                ),
            )
        )
        if t.get("nodes_cpu_us_per_write") is not None:
            rows.append(
                (
                    "  CPU per write (all nodes; link proxy)",
                    f"{t['nodes_cpu_us_per_write']} us; {t['proxy_cpu_us_per_write']} us",
                )
            )
    if "catchup" in result:
        r = result["catchup"]
        rows.append(
            (
                f"catch-up of {r['entries_behind']:,} entries",
                f"{r['entries_per_s']:,} entries/s ({r.get('start_to_converged_s', '?')} s from "
                f"the node's start to converged, serving after {r['startup_s']} s; "
                f"{'by snapshot' if r.get('snapshots_received') else 'from the log'})",
            )
        )
    if "heal" in result:
        r = result["heal"]
        rows.append(
            (
                f"heal after {r['writes_per_side']:,} writes per side",
                f"converged in {r['converge_s']} s (links back {r['links_up_s']} s, "
                f"transfer {r['transfer_s']} s)",
            )
        )
    if "fanout" in result:
        r = result["fanout"]
        rows.append(
            (
                "entries sent per write",
                f"{r['entries_sent_per_write']} "
                + (f"(ideal {r['ideal']})" if r["ideal"] is not None else ""),
            )
        )
    for name, r in result.get("startup", {}).items():
        rows.append(
            (
                f"cluster up {name}",
                f"{r['up_s']} s; entries sent per write {r['entries_sent_per_write']}",
            )
        )
    if "bootstrap" in result:
        r = result["bootstrap"]
        rows.append(
            (
                f"bootstrap of {r['keys']:,} live keys",
                f"snapshot {r['snapshot_keys_per_s']:,} keys/s ({r['snapshot_s']} s), log "
                f"catch-up {r['log_catchup_keys_per_s']:,} keys/s ({r['log_catchup_s']} s): "
                f"{r['speedup']}x",
            )
        )
    if "soak-disk" in result:
        r = result["soak-disk"]
        rows.append(
            (
                f"disk after {r['writes']:,} overwrites of {r['keys']:,} keys",
                f"max {max(r['disk_bytes'].values()):,} B per node; live {r['live_bytes']:,} B"
                f" + retained log {r['retained_log_bytes']:,} B: "
                f"{r['ratio_to_live_plus_retention']}x (peak while writing "
                f"{r['peak_ratio']}x)",
            )
        )
    for name, r in result.get("floor", {}).items():
        if "p50_ms" in r:
            rows.append(
                (
                    f"gRPC alone: one stream message, sent to received at {r['rate']}/s",
                    f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms ({r['count']:,} messages)",
                )
            )
            continue
        rows.append(
            (
                f"gRPC alone: {name.replace('_', ' ')}",
                f"server {r['server_cpu_us']} us, client {r['client_cpu_us']} us CPU "
                f"({r['per_s']:,}/s)",
            )
        )
    if "apply" in result:
        r = result["apply"]
        us = r["us_per_entry"]
        rows.append(
            (
                f"apply one replicated entry (in process, {r['entries']:,} entries)",
                f"{r['path_us_per_entry']} us CPU: "
                + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in us.items())
                + f"; LevelDB's write {r['leveldb_share']:.0%} of the path",
            )
        )
    width = max(len(a) for a, _ in rows)
    return "\n".join(lines + [f"{a.ljust(width)}  {b}" for a, b in rows])


def scale_table(result: dict[str, Any]) -> str:
    """``--scale``: one row per shape; work per write beside its ideal (N - 1)."""
    head = (
        "shape",
        "converged w/s",
        "unbatched w/s",
        "lat p50/p99 ms",
        "sent/write",
        "applies/write",
        "CPU us/write",
    )
    out = [head]
    for shape, r in result["scale"].items():
        lat = r["latency_ms"]
        ideal = r["ideal_per_write"]
        out.append(
            (
                shape,
                f"{r['converged_per_s']:,}",
                f"{r['unbatched_converged_per_s']:,}",
                f"{lat['p50']:.2f}/{lat['p99']:.2f}" + (" (behind)" if r["behind"] else ""),
                f"{r.get('entries_sent_per_write', '-')} (ideal {ideal})",
                f"{r.get('applies_per_write', '-')} (ideal {ideal})",
                f"{r['nodes_cpu_us_per_write']} "
                f"(unbatched {r['unbatched_nodes_cpu_us_per_write']})",
            )
        )
    return "\n".join(_columns(out))


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def compare_table(result: dict[str, Any]) -> str:
    head = (
        "system",
        "converged w/s",
        "ratio",
        "lat p50/p99/max ms",
        "offered/s",
        "client",
        "durability",
    )
    out = [head]
    for r in result["compare"]["rows"]:
        lat = r.get("latency_ms") or {}
        offered = r.get("latency_offered_per_s")
        out.append(
            (
                r["system"],
                f"{r.get('throughput_converged_per_s') or 0:,.0f}",
                f"{r.get('ratio_vs_remesh_buffered') or '-'}",
                "/".join(f"{lat[k]:.2f}" for k in ("p50", "p99", "max")) if lat else "-",
                "-"
                if offered is None
                else f"{offered:,.0f}" + (" BEHIND" if r.get("behind") else ""),
                r["client"],
                r["durability"],
            )
        )
    lines = _columns(out)
    lines.append(
        "Unlike comparisons are labelled: remesh's batched rows send 500 writes per "
        "request; etcd fsyncs and waits for a quorum; Redis and remesh buffered do not "
        "fsync."
    )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str) -> None:
    """Latency CDF per node and rate (needs matplotlib: pip install remesh[bench])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ClusterError("--plot needs matplotlib: pip install 'remesh[bench]'") from exc
    fig, ax = plt.subplots(figsize=(8, 5))
    for rate, r in result.get("latency", {}).items():
        for node, samples in r["_samples"].items():
            s = sorted(samples)
            ax.plot(s, [(i + 1) / len(s) for i in range(len(s))], label=f"{node} @ {rate}/s")
    ax.set_xscale("log")
    ax.set_xlabel("replication latency (ms, log)")
    ax.set_ylabel("fraction of writes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    cl = result.get("cluster", {})
    ax.set_title(
        f"remesh {cl.get('name', '')} ({cl.get('durability', '')}), "
        f"{result['machine']['nproc']} cores"
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")


def strip_samples(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if "latency" in out:
        out["latency"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "_samples"}
            for k, v in out["latency"].items()
        }
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """The terminal table: one row per system, then each row's durability and notes."""
    head = ("system", "acked/s", "converged/s", "lat p50", "p99", "max ms", "durability")
    rows = [head]
    for r in result["systems"]:
        lat = r.get("latency_ms") or {}
        rows.append(
            (
                r["system"],
                _fmt(r.get("throughput_acked_per_s")),
                _fmt(r.get("throughput_converged_per_s")),
                _fmt(lat.get("p50"), 2),
                _fmt(lat.get("p99"), 2),
                _fmt(lat.get("max"), 2),
                r["durability"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    w = result["workload"]
    lines.append(
        f"workload: {w['writes']:,} writes of {w['value_size']} B over {w['keys']:,} keys, "
        f"{w['concurrency']} client threads; latency at {w['latency_rate']}/s for "
        f"{w['latency_seconds']} s"
    )
    m = result.get("machine")
    if m:
        lines.append(
            f"machine: {m['nproc']} cores, {m['cpu_model']}, data on {m['data_dir_fs']}; "
            f"1-min load average {m['loadavg_at_start'][0]} at start, "
            f"{m.get('loadavg_at_end', ['?'])[0]} at end (anything else running skews this)"
        )
    for r in result["systems"]:
        for note in r.get("notes", []):
            lines.append(f"  {r['system']}: {note}")
    return "\n".join(lines)
