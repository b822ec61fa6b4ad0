"""The node runner's log formats: ``text`` for people, ``json`` for log pipelines.

A JSON line is one object: ``time`` (UTC, ISO 8601 with microseconds), ``level``,
``node``, ``logger``, ``event`` (the message's template: stable per call site, so
lines group and count by it), ``message`` (rendered) and ``fields`` (the template's
arguments in order as ``args``, plus any ``extra={"fields": {...}}`` a call passes).
Both formats start with a sortable timestamp, so ``cluster logs --all`` can merge them.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s {node} %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        template = str(record.msg)
        args = list(record.args) if isinstance(record.args, tuple) else []
        # Most node messages start "<node>: ...": the node has its own key.
        if template.startswith("%s: ") and args and args[0] == self.node:
            template, args = template[4:], args[1:]
        fields: dict[str, Any] = {"args": [_plain(a) for a in args]} if args else {}
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            fields.update({str(k): _plain(v) for k, v in extra.items()})
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="microseconds"
            ),
            "level": record.levelname,
            "node": self.node,
            "logger": record.name,
            "event": template,
            "message": record.getMessage().removeprefix(f"{self.node}: "),
            "fields": fields,
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """A JSON-ready value: numbers, strings, bools and None as they are, the rest as str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


GRPC_CORE_LOGGER = "grpc._cython.cygrpc"
_SEND_FAILED = "ExecuteBatchError raised in core by servicer method"


class GonePeerFilter(logging.Filter):
    """grpc.aio logs an ERROR with a traceback when a server's send fails because the
    client has just gone (killed, restarted, cut off) and Core has not yet told it the
    call was closed; once it has, the same failure is silent (grpc's
    ``_handle_exceptions``). Nothing here for a person to act on, so the record becomes
    one INFO line naming the method; any other grpc record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if not text.startswith(_SEND_FAILED):
            return True
        method = text[len(_SEND_FAILED) :].strip(" []") or "a method"
        record.msg, record.args = "a client of %s went away while it was being sent to", (method,)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info = record.exc_text = None
        return logging.getLogger().isEnabledFor(logging.INFO)


def quiet_gone_peers() -> None:
    """Install ``GonePeerFilter`` on grpc's core logger (once per process)."""
    logger = logging.getLogger(GRPC_CORE_LOGGER)
    if not any(isinstance(f, GonePeerFilter) for f in logger.filters):
        logger.addFilter(GonePeerFilter())


def configure(node: str, level: str, fmt: str) -> None:
    """Send the node's logs to stderr in ``fmt`` (text or json)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT.format(node=node)))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
