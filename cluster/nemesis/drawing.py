"""``report.html``: a nemesis run's pictures, self-contained (PNGs inline as base64).

Three panels share the time axis: a fault chart (one labelled bar per fault,
overlapping faults in separate rows), operations per second (ok / fail / info), and
each operation's latency at the moment it was invoked (log scale). Every fault window
is shaded in the two lower panels, in its kind's colour. matplotlib is an optional extra
(``pip install 'remesh[report]'``); without it the report holds the numbers only.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from cluster.nemesis.kinds import KINDS
from cluster.nemesis.report import CONVERGENCE_MEANS, OUTCOMES, ReportData, convergence_text

INSTALL = "pip install 'remesh[report]' (matplotlib), or pip install -e '.[report]' in a checkout"


def colour(kind: str) -> str:
    """A fault kind's colour (``cluster.nemesis.kinds``); grey for one no longer known."""
    return KINDS[kind].colour if kind in KINDS else "#bbbbbb"


OUTCOME_COLOURS = {"ok": "#2ca02c", "fail": "#d62728", "info": "#ff7f0e"}


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _shade(ax: Any, data: ReportData) -> None:
    for w in data.windows:
        ax.axvspan(w.start, w.end, color=colour(w.kind), alpha=0.12, lw=0)
    for t, style in ((data.final_heal, "--"), (data.converged_at, ":")):
        if t is not None:
            ax.axvline(t, color="black", lw=1, ls=style)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def draw(data: ReportData) -> dict[str, str]:
    """``{"run": base64 PNG}``: faults, ops/s and latency, one above the other."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    lanes = max(1, max((w.lane for w in data.windows), default=0) + 1)
    fig, (faults, rates, latency) = plt.subplots(
        3,
        1,
        sharex=True,
        figsize=(12, 7 + 0.3 * lanes),
        gridspec_kw={"height_ratios": [0.45 * lanes, 3, 3.4]},
    )
    _fault_lanes(faults, data, lanes)
    _rates(rates, data)
    _latency(latency, data)
    latency.set_xlabel("seconds since the run started")
    latency.set_xlim(0, max(data.end, 1e-3))
    fig.align_ylabels()
    out = {"run": _png(fig)}
    plt.close(fig)
    return out


def _fault_lanes(ax: Any, data: ReportData, lanes: int) -> None:
    """One bar per fault, its label clipped to the bar; overlapping faults in more rows."""
    for w in data.windows:
        shade = colour(w.kind)
        (bar,) = ax.barh(w.lane, w.end - w.start, left=w.start, height=0.8, color=shade)
        text = ax.text(
            w.start, w.lane, " " + w.label, va="center", ha="left", fontsize=8, clip_on=True
        )
        text.set_clip_path(bar)
    ax.set_ylim(lanes - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_ylabel("faults", rotation=0, ha="right", va="center")
    ax.set_title(
        "nemesis run: faults (bars and shading), operations per second, latency of each "
        "operation\n(dashed: final heal; dotted: converged)",
        fontsize=10,
    )


def _rates(ax: Any, data: ReportData) -> None:
    from matplotlib.patches import Patch

    for t in OUTCOMES:
        total = sum(round(r * data.bucket_s) for r in data.rates[t])
        ax.step(
            data.starts + [data.end],
            data.rates[t] + data.rates[t][-1:],
            where="post",
            color=OUTCOME_COLOURS[t],
            label=f"{t} ({total})",
        )
    _shade(ax, data)
    ax.set_ylabel(f"ops/s\n({data.bucket_s:g} s buckets)")
    ax.set_ylim(bottom=0)
    kinds = sorted({w.kind for w in data.windows})
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=colour(k), alpha=0.3, label=k) for k in kinds]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def _latency(ax: Any, data: ReportData) -> None:
    for t in OUTCOMES:  # ok first: the rarer fail and info are drawn over it
        points = data.latencies[t]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(
                xs,
                [max(y, 1e-5) for y in ys],
                s=3 if t == "ok" else 10,
                alpha=0.4 if t == "ok" else 0.9,
                color=OUTCOME_COLOURS[t],
                label=f"{t} ({len(points)})",
                lw=0,
            )
    _shade(ax, data)
    ax.set_yscale("log")
    ax.set_ylabel("latency (s)\nat invocation")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, markerscale=2)


def render_html(data: ReportData, images: dict[str, str] | None) -> str:
    s = data.summary
    esc = html.escape
    ops = s.get("ops", {})
    rows = [
        ("verdict", str(s.get("verdict", "?")).upper()),
        ("cluster / seed", f"{s.get('cluster', '?')} / {s.get('seed', '?')}"),
        ("operations", ", ".join(f"{t} {ops.get(t, 0)}" for t in OUTCOMES)),
        ("faults", ", ".join(f"{k} {n}" for k, n in s.get("faults_injected", {}).items())),
        ("convergence", f"{convergence_text(data.convergence_s)} ({CONVERGENCE_MEANS})"),
        ("replay", s.get("replay", "")),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
    windows = "".join(
        f"<tr><td>{esc(w.label)}</td><td>{w.start:.2f}</td><td>{w.end:.2f}</td>"
        f"<td>{w.end - w.start:.2f}</td></tr>"
        for w in data.windows
    )
    if images:
        pictures = "".join(
            f'<p><img alt="{name}" src="data:image/png;base64,{png}"></p>'
            for name, png in images.items()
        )
    else:
        pictures = f"<p><b>No pictures: matplotlib is not installed.</b> {esc(INSTALL)}</p>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nemesis {esc(str(s.get("cluster", "")))} seed
{esc(str(s.get("seed", "")))}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 8px;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>nemesis {esc(str(s.get("cluster", "")))}, seed {esc(str(s.get("seed", "")))}</h1>
<table>{table}</table>{pictures}
<h2>Fault windows</h2>
<table><tr><th>fault</th><th>from (s)</th><th>to (s)</th><th>for (s)</th></tr>{windows}</table>
</body></html>
"""


def write_report(data: ReportData, path: Path) -> bool:
    """Write ``report.html``; False when it holds no pictures (matplotlib missing)."""
    images = draw(data) if have_matplotlib() else None
    path.write_text(render_html(data, images))
    return images is not None
