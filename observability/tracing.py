"""OpenTelemetry set-up for one process, and the W3C trace-context carriers both faces use.

Tracing is off unless the standard variables ask for it: `OTEL_TRACES_EXPORTER=otlp`, or an
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (and not
`OTEL_SDK_DISABLED=true`) installs an SDK TracerProvider with a batching OTLP exporter (the
`opentelemetry-exporter-otlp` package, installed separately; its own `OTEL_*` variables
configure it). Otherwise the API's no-op tracer is used: spans cost next to nothing and
nothing leaves the process. `traceparent` is still propagated either way.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping

from opentelemetry import context, propagate, trace
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


def context_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> context.Context:
    """The trace context a caller sent in gRPC metadata (`traceparent`, `tracestate`)."""
    carrier = {name: value for name, value in metadata or () if isinstance(value, str)}
    return propagate.extract(carrier)


def trace_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) for the current span, for an outgoing call."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
