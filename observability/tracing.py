"""OpenTelemetry set-up for one process, and the W3C trace-context carriers both faces use.

Tracing is off unless the standard variables ask for it: `OTEL_TRACES_EXPORTER=otlp`, or an
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (and not
`OTEL_SDK_DISABLED=true`) installs an SDK TracerProvider with a batching OTLP exporter (the
`opentelemetry-exporter-otlp` package, installed separately; its own `OTEL_*` variables
configure it). Otherwise the API's no-op tracer is used and nothing leaves the process;
`traceparent` is still propagated either way.

`recording()` says whether spans go anywhere (an SDK provider is installed, by
configure_tracing or by whoever embeds a face): when they do not, the faces create no span
objects at all on their hot paths and only carry a caller's trace context along (a no-op
span would carry the same context: its ids are its parent's).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger(__name__)

_EXPORTERS = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter:
        return "otlp" in exporter.split(",")
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service_name: str, environ: Mapping[str, str]) -> TracerProvider | None:
    """Installs a TracerProvider exporting over OTLP when the environment asks for it."""
    trace.get_tracer_provider()  # installs the one OTEL_PYTHON_TRACER_PROVIDER names, if any
    if not tracing_requested(environ):
        return None
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    )
    try:
        module = importlib.import_module(_EXPORTERS[protocol])
    except KeyError:
        logger.warning("tracing off: OTLP protocol %r is not one of %s", protocol, list(_EXPORTERS))
        return None
    except ImportError:
        logger.warning("tracing off: `pip install opentelemetry-exporter-otlp` to export traces")
        return None
    exporter: SpanExporter = module.OTLPSpanExporter()
    name = environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


_SILENT = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
TRACEPARENT = "traceparent"


_recording = False  # once a provider is installed it stays (OpenTelemetry sets it only once)


def recording() -> bool:
    """Whether an SDK tracer provider is installed, so spans are recorded and exported.

    Read from the API's own global while none is: get_tracer_provider() also looks up an
    environment variable each time, a few times per request (configure_tracing() calls it
    once, which installs a provider that variable names)."""
    global _recording
    if not _recording:
        provider = getattr(trace, "_TRACER_PROVIDER", _UNREAD)
        if provider is _UNREAD:  # not this API's layout: ask it
            provider = trace.get_tracer_provider()
        _recording = provider is not None and not isinstance(provider, _SILENT)
    return _recording


_UNREAD = object()


class _NoSpan:
    """`with` a span that records nothing and changes no context (reentrant: one serves all)."""

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()


class QuietTracer(trace.Tracer):
    """A tracer whose spans are OpenTelemetry's while a provider records them (recording()),
    and otherwise not made at all: the no-op tracer's spans cost a context switch each (a few
    µs, several per request) for nothing, since they only repeat their parent's ids."""

    def __init__(self, name: str) -> None:
        self._tracer = trace.get_tracer(name)

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        if recording():
            return self._tracer.start_span(name, *args, **kwargs)
        return trace.INVALID_SPAN

    def start_as_current_span(  # type: ignore[override]
        self, name: str, *args: Any, **kwargs: Any
    ) -> AbstractContextManager[trace.Span]:
        if recording():
            return self._tracer.start_as_current_span(name, *args, **kwargs)
        return _NO_SPAN


def context_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> context.Context:
    """The trace context a caller sent in gRPC metadata (`traceparent`, `tracestate`)."""
    carrier = {name: value for name, value in metadata or () if isinstance(value, str)}
    return propagate.extract(carrier)


def trace_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`, `baggage`) for the current span, for an outgoing call;
    none (without asking the propagators) when there is no trace and no baggage to carry."""
    current = context.get_current()
    if not trace.get_current_span(current).get_span_context().is_valid and not (
        baggage.get_all(current)
    ):
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier, current)
    return carrier
