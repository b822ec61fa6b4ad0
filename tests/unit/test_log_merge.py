"""``cluster logs --all``: lines of either log format, timed and merged in time order."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cluster.logs import line_time, merged, stamped, unexpected_lines

pytestmark = pytest.mark.unit


def text_line(t: datetime, msg: str) -> str:
    local = t.astimezone()  # the text format's asctime is local time
    return local.strftime("%Y-%m-%d %H:%M:%S,") + f"{local.microsecond // 1000:03d} INFO {msg}"


def json_line(t: datetime, msg: str) -> str:
    return json.dumps({"time": t.isoformat(timespec="microseconds"), "level": "INFO", "event": msg})


T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(ms: int) -> datetime:
    return T0.fromtimestamp(T0.timestamp() + ms / 1000, timezone.utc)


def test_both_formats_give_the_same_instant():
    assert line_time(text_line(at(5), "x")) == pytest.approx(at(5).timestamp())
    assert line_time(json_line(at(5), "x")) == pytest.approx(at(5).timestamp())
    assert line_time("Traceback (most recent call last):") is None
    assert line_time('{"not": "a log line"}') is None
    assert line_time("{broken json") is None


def test_logs_merge_in_time_order_and_continuations_stay_with_their_line():
    a = [text_line(at(0), "a0"), "  a traceback line", text_line(at(30), "a30")]
    b = [json_line(at(10), "b10"), json_line(at(30), "b30"), json_line(at(40), "b40")]
    c = [text_line(at(20), "c20")]
    out = [
        (name, line)
        for _, name, _, line in merged([stamped("a", a), stamped("b", b), stamped("c", c)])
    ]
    assert [name for name, _ in out] == ["a", "a", "b", "c", "a", "b", "b"]
    assert out[1] == ("a", "  a traceback line")  # right after the line it continues
    assert out[4][1].endswith("a30") and json.loads(out[5][1])["event"] == "b30"  # a tie: a first


def test_json_errors_count_as_unexpected(tmp_path):
    log = tmp_path / "n.log"
    log.write_text(json_line(at(0), "fine") + "\n" + json.dumps({"level": "ERROR", "x": 1}) + "\n")
    assert len(unexpected_lines([("n", log)])) == 1


def test_last_error_is_the_reason_a_process_gave_in_its_last_lines() -> None:
    from cluster.logs import last_error

    served = "2026-03-01 12:00:00,000 INFO node-c node: node-c: serving on 127.0.0.1:1"
    err = "2026-03-01 12:00:01,000 ERROR node-c node: node-c: cannot use x: x is a file"
    assert last_error("\n".join([served, err])) == "cannot use x: x is a file"
    assert last_error(f"{served}\nerror: the TLS certificate c.pem expired") == (
        "the TLS certificate c.pem expired"
    )
    record = {"level": "ERROR", "node": "node-c", "message": "cannot listen: in use"}
    assert last_error(json.dumps(record)) == "cannot listen: in use"
    assert last_error("\n".join([err, served, served, served])) == ""  # an earlier run's
    assert last_error("") == ""
