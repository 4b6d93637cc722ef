"""Both faces with their Prometheus exporters on free ports, spans in memory, logs captured.

The OpenTelemetry SDK's InMemorySpanExporter is installed once for the session (the global
tracer provider can be set once per process); each test clears it.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from core.auth import KeyRing, digest
from core.catalog import EmbeddingSpec, ModelCatalog, ModelSpec
from gateway.app import create_app
from gateway.settings import Settings
from observability.logs import ContextFilter, JsonFormatter
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread, GatewayThread

MODEL = "scripted"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    span_exporter.clear()
    return span_exporter


def finished_spans(exporter: InMemorySpanExporter, trace_id: int, count: int) -> list[ReadableSpan]:
    """The trace's spans once at least `count` have ended (the gateway's HTTP span ends just
    after the client has its response)."""
    deadline = time.monotonic() + 5
    while True:
        found = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@dataclass
class Faces:
    """A core and a gateway in front of it, the core's scripted model and both scrape URLs."""

    core: CoreThread
    gateway: GatewayThread
    backend: ScriptedBackend

    def scrape(self) -> tuple[Samples, Samples]:
        """(the gateway's page, the core's page)."""
        return scrape(self.gateway.metrics_url), scrape(self.core.metrics_url)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one sample moved between two scrapes (absent counts as 0)."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page, by (name, sorted labels)."""
    text = httpx.get(url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scripted_catalog(backend: ScriptedBackend) -> ModelCatalog:
    spec = ModelSpec(
        name=MODEL, backend="scripted", context_window=4096, embeddings=EmbeddingSpec(dimensions=3)
    )
    catalog = ModelCatalog([spec])
    catalog.attach(MODEL, backend)
    return catalog


@pytest.fixture
def faces(sqlite_url: str) -> Iterator[Faces]:
    backend = ScriptedBackend()
    core = CoreThread(scripted_catalog(backend), database_url=sqlite_url, metrics=True)
    settings = Settings(core_target=core.target, auth="disabled", metrics_port=0)
    gateway = GatewayThread(create_app(settings))
    yield Faces(core, gateway, backend)
    gateway.stop()
    core.stop()


@pytest.fixture
def keyed_faces(sqlite_url: str) -> Iterator[Faces]:
    """Faces that require an API key: "tenant" holds CANARY_KEY."""
    backend = ScriptedBackend()
    keys = KeyRing({"tenant": digest(CANARY_KEY)})
    core = CoreThread(scripted_catalog(backend), database_url=sqlite_url, keys=keys, metrics=True)
    gateway = GatewayThread(create_app(Settings(core_target=core.target, metrics_port=0)))
    yield Faces(core, gateway, backend)
    gateway.stop()
    core.stop()


CANARY_KEY = "sk-canary-2f9d41c7e8b3a6"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every record at INFO and above from both faces, as the JSON lines the process writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)
