"""What observability costs when it is not wanted: the access-line and metrics switches of both
faces, metrics recorded per stream rather than per token, and trace headers only when there
is a trace (the hot path's measurements are in bench/, never here)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import context, trace
from prometheus_client import CollectorRegistry, Histogram

from core.errors import ConfigError
from core.settings import Settings as CoreSettings
from gateway.settings import Settings as GatewaySettings
from observability import metrics
from observability.logs import ACCESS_LOGGERS, configure_logging
from observability.tracing import trace_headers


def test_both_faces_read_the_access_log_and_metrics_switches():
    off = {"CHATRPC_ACCESS_LOG": "off", "CHATRPC_METRICS": "OFF"}
    core, gateway = CoreSettings.from_env(off), GatewaySettings.from_env(off)
    assert (core.access_log, core.metrics, gateway.access_log, gateway.metrics) == (False,) * 4
    defaults = CoreSettings.from_env({}), GatewaySettings.from_env({})
    assert all(s.access_log and s.metrics for s in defaults)
    with pytest.raises(ConfigError, match="CHATRPC_METRICS"):
        CoreSettings.from_env({"CHATRPC_METRICS": "maybe"})
    with pytest.raises(ValueError, match="CHATRPC_ACCESS_LOG"):
        GatewaySettings.from_env({"CHATRPC_ACCESS_LOG": "sometimes"})


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for name in ACCESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_access_lines_off_silences_only_the_access_loggers(restored_logging):
    configure_logging("text", access=False)
    assert not logging.getLogger("core.rpc").isEnabledFor(logging.INFO)
    assert not logging.getLogger("gateway.access").isEnabledFor(logging.INFO)
    assert logging.getLogger("gateway.access").isEnabledFor(logging.WARNING)
    assert logging.getLogger("core").isEnabledFor(logging.INFO)
    configure_logging("text")
    assert logging.getLogger("core.rpc").isEnabledFor(logging.INFO)


def test_metrics_off_records_nothing_and_on_again_records():
    registry = CollectorRegistry()
    counter = Histogram("switch_probe_seconds", "probe", ("m",), registry=registry)
    try:
        metrics.record(False)
        metrics.child(counter, "a").observe(1.0)
        batch = metrics.Observations(counter, "a")
        batch.add(0.5)
        batch.flush()
        assert registry.get_sample_value("switch_probe_seconds_count", {"m": "a"}) is None
    finally:
        metrics.record(True)
    metrics.child(counter, "a").observe(1.0)
    assert registry.get_sample_value("switch_probe_seconds_count", {"m": "a"}) == 1


def test_observations_added_at_once_equal_one_observe_each():
    registry = CollectorRegistry()
    buckets = metrics.LATENCY_BUCKETS
    one = Histogram("one_by_one_seconds", "x", ("m",), buckets=buckets, registry=registry)
    batched = Histogram("batched_seconds", "x", ("m",), buckets=buckets, registry=registry)
    values = [0.0, 0.001, 0.0010001, 0.003, 0.02, 0.02, 0.7, 59.0, 61.0, 1e9]
    for value in values:
        one.labels("m").observe(value)
    observations = metrics.Observations(batched, "m")
    for value in values[:4]:
        observations.add(value)
    observations.flush()
    for value in values[4:]:
        observations.add(value)
    assert registry.get_sample_value("batched_seconds_count", {"m": "m"}) == 4  # not yet flushed
    observations.flush()
    observations.flush()  # nothing new: adds nothing

    def samples(name: str) -> dict[tuple[str, str], float]:
        return {
            (s.name.removeprefix(name), s.labels.get("le", "")): s.value
            for family in registry.collect()
            for s in family.samples
            if s.name.startswith(name) and not s.name.endswith("_created")
        }

    assert samples("batched_seconds") == samples("one_by_one_seconds")


def test_trace_headers_are_empty_without_a_trace_and_carry_one_that_is_current():
    assert trace_headers() == {}
    span = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=trace.TraceFlags(1),
        )
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        headers = trace_headers()
    finally:
        context.detach(token)
    assert headers["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
