"""Log records that say which request they are about, as readable text or one JSON object a line.

`configure_logging(fmt)` installs one handler on the root logger with ContextFilter, so every
record (ours, grpc's, uvicorn's) carries the current request's id, trace id, model and thread
(empty when unknown). `CHATRPC_LOG_FORMAT=json` selects JsonFormatter; text is the default.
What a line may hold: never a key, and no prompt or reply text at INFO (tests check it).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Final

import orjson
from opentelemetry import trace

from observability.requests import current

LOG_FORMATS: Final = ("text", "json")
_CONTEXT: Final = ("request_id", "trace_id", "model", "thread_id")
_TEXT: Final = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


class ContextFilter(logging.Filter):
    """Adds request_id, trace_id, model and thread_id (and `context`, their text form)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current()
        span = trace.get_current_span().get_span_context()
        request_id = fields.request_id if fields else ""
        record.__dict__.update(
            request_id=request_id,
            model=fields.model if fields else "",
            thread_id=fields.thread_id if fields else "",
            trace_id=format(span.trace_id, "032x") if span.is_valid else "",
            context=f" [{request_id}]" if request_id else "",
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the request's
    fields that are known, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, "")
            if value:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> logging.Handler:
    """Replaces the root logger's handlers by one stderr handler in `fmt` ("text" or "json")."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
