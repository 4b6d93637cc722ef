"""One request through gateway and core is one trace under the client's traceparent, with the
RPC, validation, memory, backend (first token) and response spans in their places."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes import ScriptedBackend
from tests.observability.conftest import MODEL, Faces, finished_spans, scripted_catalog
from tests.servers import CoreThread, GatewayThread, UvicornThread, upstream_model, with_models
from tests.upstream import FakeUpstream

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CLIENT_SPAN = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{CLIENT_SPAN:016x}-01"


def _stream(faces: Faces, thread_id: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "thread_id": thread_id,
    }
    with httpx.Client(base_url=faces.gateway.url, timeout=10) as client:
        response = client.post(
            "/v1/chat/completions", json=body, headers={"traceparent": TRACEPARENT}
        )
    assert response.status_code == 200
    assert response.text.endswith("data: [DONE]\n\n")


def test_one_trace_across_gateway_and_core_under_the_clients_traceparent(
    faces: Faces, spans: InMemorySpanExporter
):
    faces.backend.enqueue(["a", "b"])
    _stream(faces, "trace-thread")
    names = (
        "POST /v1/chat/completions",
        "response",
        "chatrpc.v1.ChatService/StreamChat",
        "validate",
        "memory.load",
        "backend",
        "memory.commit",
    )
    found = finished_spans(spans, TRACE_ID, len(names))
    by_name = {span.name: span for span in found}
    assert set(names) <= set(by_name), sorted(by_name)
    servers = [s for s in found if s.name == "POST /v1/chat/completions"]
    assert len(servers) == 1  # one HTTP server span (FastAPI's), not one per middleware
    http, rpc = servers[0], by_name["chatrpc.v1.ChatService/StreamChat"]
    assert http.kind is SpanKind.SERVER and rpc.kind is SpanKind.SERVER
    assert http.parent is not None and http.parent.span_id == CLIENT_SPAN
    assert http.parent.is_remote
    assert rpc.parent is not None and rpc.parent.is_remote  # it came over gRPC metadata
    assert http.context.span_id in _ancestors(rpc, found)
    assert http.context.span_id in _ancestors(by_name["response"], found)
    for child in ("validate", "memory.load", "backend", "memory.commit"):
        assert by_name[child].parent.span_id == rpc.context.span_id, child
    events = [event.name for event in by_name["backend"].events]
    assert events == ["first_token"]
    assert rpc.attributes["rpc.method"] == "StreamChat"
    assert http.attributes["http.route"] == "/v1/chat/completions"


def _ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[int]:
    by_id = {s.context.span_id: s for s in spans}
    found = []
    while span.parent is not None:
        found.append(span.parent.span_id)
        if span.parent.span_id not in by_id:
            break
        span = by_id[span.parent.span_id]
    return found


def test_the_core_carries_the_trace_to_the_upstream(spans: InMemorySpanExporter, sqlite_url: str):
    fake = FakeUpstream(keys=["up-key"], models={"up-model": None})
    upstream = UvicornThread(fake, log_level="warning")
    base = scripted_catalog(ScriptedBackend())
    spec = upstream_model("hosted", upstream.url + "/v1", "up-model", "up-key")
    catalog = with_models(base, spec)
    core = CoreThread(catalog, database_url=sqlite_url)
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    try:
        body = {"model": "hosted", "messages": [{"role": "user", "content": "hi"}]}
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            json=body,
            headers={"traceparent": TRACEPARENT},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    finally:
        gateway.stop()
        core.stop()
        upstream.stop()
    sent = fake.chat_requests[-1].headers["traceparent"]
    backend = next(s for s in finished_spans(spans, TRACE_ID, 4) if s.name == "backend")
    assert sent == f"00-{TRACE_ID:032x}-{backend.context.span_id:016x}-01"
