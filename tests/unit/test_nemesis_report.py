"""report.html's data, from a small recorded history: counts per bucket, latencies, fault
windows, the final heal and convergence; then the HTML with and without matplotlib."""

from __future__ import annotations

import base64
import re

import pytest

from cluster.history import Op
from cluster.nemesis import drawing
from cluster.nemesis.drawing import INSTALL, render_html, write_report
from cluster.nemesis.report import Window, bucket_size, build

pytestmark = pytest.mark.unit


def op(id: int, type_: str, t: float) -> Op:
    return Op(id, 0, "node-a", "put", "k", f"v{id}", type_, t)


# (invoked at, completed at, outcome)
OPS = [
    (0.1, 0.2, "ok"),
    (0.5, 0.6, "ok"),
    (0.9, 1.1, "info"),  # completes in the second bucket
    (1.2, 1.3, "fail"),
    (1.4, 2.4, "info"),  # a timeout: invoked in bucket 1, completes in bucket 2
    (2.5, 2.55, "ok"),
    (3.0, 3.01, "ok"),
    (3.5, 3.6, "ok"),
]
HISTORY = [o for i, (a, b, t) in enumerate(OPS) for o in (op(i, "invoke", a), op(i, t, b))]
TIMELINE = [
    {"time": 1.0, "action": "kill", "detail": {"node": "node-b"}},
    {"time": 1.5, "action": "partition", "detail": {"shape": "halves", "mode": "reset"}},
    {"time": 2.5, "action": "start", "detail": {"node": "node-b"}},
    {"time": 3.0, "action": "heal", "detail": {"links": 4, "shape": "halves"}},
    {"time": 3.2, "action": "pause", "detail": {"node": "node-c"}},
    {"time": 3.3, "action": "resume", "detail": {"node": "node-a"}},  # not c: c stays paused
    {"time": 3.7, "action": "workers-stopped", "detail": {}},
    {"time": 4.0, "action": "restored", "detail": {}},
    {"time": 4.5, "action": "converged", "detail": {"seconds": 0.4}},
]


def test_the_report_data_of_a_small_history():
    data = build(HISTORY, TIMELINE, {"seed": 7, "verdict": "valid"})
    assert data.bucket_s == 1.0 and data.end == 4.5
    assert data.starts == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert data.rates == {
        "ok": [2, 0, 1, 2, 0],
        "fail": [0, 1, 0, 0, 0],
        "info": [0, 1, 1, 0, 0],
    }
    assert data.latencies["info"] == [(0.9, pytest.approx(0.2)), (1.4, pytest.approx(1.0))]
    assert data.latencies["fail"] == [(1.2, pytest.approx(0.1))]
    assert len(data.latencies["ok"]) == 5
    assert data.windows == [
        Window("kill", "kill node-b", 1.0, 2.5, lane=0),
        Window("partition", "halves (reset)", 1.5, 3.0, lane=1),  # overlaps: a second row
        Window("pause", "pause node-c", 3.2, 4.0, lane=0),  # never resumed: until restored
    ]
    assert data.final_heal == 4.0 and data.converged_at == 4.5
    assert data.convergence_s is None  # a summary's figure: none given


def test_wider_buckets_for_long_runs_and_a_rate_per_second():
    assert bucket_size(30) == 1.0 and bucket_size(600) == 5.0 and bucket_size(3600) == 30.0
    data = build(HISTORY, TIMELINE, bucket_s=2.0)
    assert data.rates["ok"] == [1.0, 1.5, 0.0]  # 2, 3 and 0 completions per 2 s


def test_a_fault_never_undone_nor_restored_lasts_to_the_end():
    data = build(HISTORY, TIMELINE[:2])
    assert [(w.label, w.end) for w in data.windows] == [
        ("kill node-b", 3.6),
        ("halves (reset)", 3.6),
    ]
    assert data.converged_at is None and data.convergence_s is None


def test_the_html_is_self_contained_with_the_picture_inline(tmp_path):
    path = tmp_path / "report.html"
    summary = {"seed": 7, "verdict": "valid", "cluster": "m", "convergence_seconds": 0.013}
    data = build(HISTORY, TIMELINE, summary)
    assert write_report(data, path) is True
    text = path.read_text()
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    # the figure summary.json and the CLI give, under the one label and definition
    assert "halves (reset)" in text and "<th>convergence</th><td>0.013 s (from every" in text
    assert "0.50 s" not in text and "heal at" not in text
    assert "http" not in text.replace("http-equiv", ""), "nothing fetched from elsewhere"


def test_without_matplotlib_the_report_says_how_to_get_the_pictures(tmp_path, monkeypatch):
    monkeypatch.setattr(drawing, "have_matplotlib", lambda: False)
    path = tmp_path / "report.html"
    assert write_report(build(HISTORY, TIMELINE), path) is False
    assert "matplotlib is not installed" in path.read_text()
    assert "remesh[report]" in INSTALL
    assert "<img" not in render_html(build(HISTORY, TIMELINE), None)
