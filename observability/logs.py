"""Log records that say which request they are about, as readable text or one JSON object a line.

`configure_logging(fmt)` installs one handler on the root logger with ContextFilter, so every
record (ours, grpc's, uvicorn's) carries the current request's id, trace id, model and thread
(empty when unknown). `CHATRPC_LOG_FORMAT=json` selects JsonFormatter; text is the default.
What a line may hold: never a key, and no prompt or reply text at INFO (tests check it).

Each face writes one access line per request at INFO (`core.rpc`, `gateway.access`);
`configure_logging(access=False)` (CHATRPC_ACCESS_LOG=off) silences both. A record costs
what the logging HOWTO's "Optimization" section says it can save: no caller lookup, no
thread or process names (no format here shows them), and the text format's timestamp is
formatted once a second.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Final

import orjson
from opentelemetry import trace

from observability.requests import current

LOG_FORMATS: Final = ("text", "json")
ACCESS_LOGGERS: Final = ("core.rpc", "gateway.access")  # one INFO line per request each
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


class TextFormatter(logging.Formatter):
    """The text format; its timestamp's date and time formatted once a second, not per line."""

    def __init__(self) -> None:
        super().__init__(_TEXT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"  # logging's default_msec_format


def configure_logging(
    fmt: str = "text", level: int = logging.INFO, *, access: bool = True
) -> logging.Handler:
    """Replaces the root logger's handlers by one stderr handler in `fmt` ("text" or "json");
    without `access`, the faces' access lines (ACCESS_LOGGERS) are not written."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    # What no format here shows, never looked up (the logging HOWTO's "Optimization").
    logging._srcfile = None  # the caller's file, line and function
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in ACCESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if access else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
