"""``log_format: json``: every line one JSON object with time, level, node, event, fields."""

from __future__ import annotations

import io
import json
import logging
import sys
from contextlib import contextmanager
from datetime import datetime

import pytest

from node.observability.logfmt import GRPC_CORE_LOGGER, GonePeerFilter, JsonFormatter

pytestmark = pytest.mark.unit


def _lines(emit) -> list[dict]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("node-a"))
    log = logging.getLogger("node.test-logfmt")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_each_line_parses_with_time_level_node_event_and_fields():
    def emit(log: logging.Logger) -> None:
        log.info("%s: link to %s (%s) up (%d entries to catch up)", "node-a", "node-b", "b@1", 7)
        log.warning('plain message with "quotes"\nand a newline')
        log.error("%s: refused %s", "node-a", {"vv": {"a": 1}}, extra={"fields": {"peer": "x"}})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("%s: failed", "node-a")

    lines = _lines(emit)
    assert len(lines) == 4, "one line per record, newlines escaped"
    first = lines[0]
    assert set(first) >= {"time", "level", "node", "event", "fields", "message"}
    assert first["node"] == "node-a" and first["level"] == "INFO"
    assert first["event"] == "link to %s (%s) up (%d entries to catch up)"
    assert first["fields"] == {"args": ["node-b", "b@1", 7]}
    assert first["message"] == "link to node-b (b@1) up (7 entries to catch up)"
    assert datetime.fromisoformat(first["time"]).utcoffset().total_seconds() == 0
    assert lines[1]["fields"] == {} and "\n" in lines[1]["message"]
    assert lines[2]["fields"] == {"args": [{"vv": {"a": 1}}], "peer": "x"}
    assert "ValueError: boom" in lines[3]["traceback"]
    times = [line["time"] for line in lines]
    assert times == sorted(times), "ISO times in UTC sort as text"


def _core_record(msg: str) -> logging.LogRecord:
    try:
        raise RuntimeError("Failed execute_batch")
    except RuntimeError:
        exc_info = sys.exc_info()
    return logging.LogRecord(GRPC_CORE_LOGGER, logging.ERROR, "x.pyx", 1, msg, None, exc_info)


@contextmanager
def _root_level(level: int):
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


@_root_level(logging.INFO)
def test_a_send_to_a_client_gone_becomes_one_info_line_and_other_grpc_errors_stay():
    gone = _core_record("ExecuteBatchError raised in core by servicer method [/remesh.v1.KV/Watch]")
    assert GonePeerFilter().filter(gone)
    assert (gone.levelno, gone.levelname, gone.exc_info) == (logging.INFO, "INFO", None)
    assert gone.getMessage() == (
        "a client of /remesh.v1.KV/Watch went away while it was being sent to"
    )
    other = _core_record("Unexpected [ValueError] raised by servicer method [/remesh.v1.KV/Put]")
    assert GonePeerFilter().filter(other)
    assert other.levelno == logging.ERROR and other.exc_info is not None


@_root_level(logging.WARNING)
def test_the_gone_client_line_is_dropped_when_info_is_not_logged():
    record = _core_record("ExecuteBatchError raised in core by servicer method [/m]")
    assert not GonePeerFilter().filter(record)
