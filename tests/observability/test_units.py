"""The shared pieces on their own: request ids, the server-timing format, log records, the
metric settings of both faces and the tracing switch."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.errors import ConfigError
from core.settings import Settings as CoreSettings
from gateway.settings import Settings as GatewaySettings
from observability.logs import ContextFilter, JsonFormatter, configure_logging
from observability.metrics import refused
from observability.requests import CURRENT, RequestFields, accept_request_id, note
from observability.timing import format_timing, parse_timing
from observability.tracing import tracing_requested


@pytest.mark.parametrize(
    ("presented", "kept"),
    [("req-1", True), ("A" * 128, True), ("A" * 129, False), ("a b", False), ("", False),
     ("é", False), ("tab\there", False), (None, False)],
)  # fmt: skip
def test_request_ids_are_kept_when_bounded_and_printable(presented, kept):
    assert (accept_request_id(presented) == presented) is kept


def test_server_timing_round_trips_and_ignores_what_it_does_not_know():
    text = format_timing([("queue", 0.04), ("ttft", 12.345), ("total", 80)])
    assert text == "queue;dur=0.0, ttft;dur=12.3, total;dur=80.0"
    assert parse_timing(text + ', cdn;dur=5, total;desc="x"') == {
        "queue": 0.0,
        "ttft": 12.3,
        "total": 80.0,
    }
    assert parse_timing("ttft;dur=abc") == {}


def test_json_lines_carry_the_requests_fields_and_text_lines_its_id():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.units")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("outside %s", "any request")
        token = CURRENT.set(RequestFields("req-9"))
        note(model="m", thread_id="t")
        log.warning("inside")
        CURRENT.reset(token)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(outside) == {"time", "level", "logger", "message"}
    assert outside["message"] == "outside any request" and outside["level"] == "WARNING"
    assert inside["request_id"] == "req-9" and inside["model"] == "m"
    assert inside["thread_id"] == "t" and inside["logger"] == "tests.units"


def test_configure_logging_installs_one_root_handler_in_either_format():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        handler = configure_logging("text")
        assert root.handlers == [handler]
        assert handler.formatter is not None
        assert "%(context)s" in str(handler.formatter._fmt)
        assert isinstance(configure_logging("json").formatter, JsonFormatter)
        with pytest.raises(ValueError, match="log format"):
            configure_logging("xml")
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_metrics_ports_default_on_in_the_processes_and_off_in_code():
    assert CoreSettings().metrics_port is None and GatewaySettings().metrics_port is None
    assert CoreSettings.from_env({}).metrics_port == 9464
    assert GatewaySettings.from_env({}).metrics_port == 9465
    assert CoreSettings.from_env({"CHATRPC_METRICS_PORT": "off"}).metrics_port is None
    assert CoreSettings.from_env({"CHATRPC_METRICS_PORT": "0"}).metrics_port == 0
    assert GatewaySettings.from_env({"CHATRPC_GATEWAY_METRICS_PORT": ""}).metrics_port is None
    with pytest.raises(ConfigError):
        CoreSettings.from_env({"CHATRPC_LOG_FORMAT": "yaml"})


def test_tracing_is_exported_only_when_the_otel_variables_ask():
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    assert not tracing_requested(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    )
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


def test_an_unknown_refusal_reason_is_a_bug():
    with pytest.raises(ValueError, match="unknown refusal reason"):
        refused("http", "because")
