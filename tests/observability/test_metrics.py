"""Both /metrics endpoints on real servers: counts move by exactly what was sent, the docs'
table names every registered metric with its labels, and TTFT matches what a client sees.

Core and gateway run in one test process, so they share prometheus_client's registry: each
face's series are told apart by their `face` label and read from that face's own endpoint.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.metrics import MetricWrapperBase

from core.errors import BackendUnavailableError
from observability import metrics
from tests.observability.conftest import MODEL, Faces, moved, scrape

ROUTE = "/v1/chat/completions"
OBSERVABILITY = Path(__file__).resolve().parents[2] / "docs" / "operations" / "observability.md"


def _client(faces: Faces) -> openai.OpenAI:
    return openai.OpenAI(base_url=faces.gateway.url + "/v1", api_key="unused", max_retries=0)


def _send_the_mix(faces: Faces) -> int:
    """2 stored turns, 2 streams, 1 backend failure, 2 refusals (gateway, core); returns the
    prompt tokens the successful turns reported."""
    client, prompt_tokens = _client(faces), 0
    for _ in range(2):
        faces.backend.enqueue(["a", "b", "c"])
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thread_id": "t1"},
        )
        assert reply.usage is not None
        prompt_tokens += reply.usage.prompt_tokens
    for _ in range(2):
        faces.backend.enqueue(["a", "b", "c", "d"])
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        prompt_tokens += usage[0].prompt_tokens
    faces.backend.enqueue(["x"], fail_after=0, error=BackendUnavailableError("down"))
    with pytest.raises(openai.InternalServerError):  # 503
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    # The gateway refuses a field of the wrong type (an unknown field goes on to the core, which
    # refuses it by name unless the model's catalog entry allows it: docs/openai/fidelity.md).
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temperature": "hot"},
        )
    with pytest.raises(openai.BadRequestError):  # the core refuses the range
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=5
        )
    return prompt_tokens


def test_counters_and_histogram_counts_move_by_exactly_what_was_sent(faces: Faces):
    http_before, grpc_before = faces.scrape()
    prompt_tokens = _send_the_mix(faces)
    http_after, grpc_after = faces.scrape()

    def http(name: str, **labels: str) -> float:
        return moved(http_before, http_after, name, **labels)

    def grpc(name: str, **labels: str) -> float:
        return moved(grpc_before, grpc_after, name, **labels)

    requests = "chatrpc_requests_total"
    assert http(requests, face="http", route=ROUTE, model=MODEL, code="200") == 4
    assert http(requests, face="http", route=ROUTE, model="", code="503") == 1
    assert http(requests, face="http", route=ROUTE, model="", code="400") == 2
    duration = "chatrpc_request_duration_seconds_count"
    assert http(duration, face="http", route=ROUTE, model=MODEL) == 4
    assert http(duration, face="http", route=ROUTE, model="") == 3
    assert http("chatrpc_time_to_first_token_seconds_count", face="http", model=MODEL) == 2
    assert http("chatrpc_refusals_total", face="http", reason="validation") == 1
    assert http_after[("chatrpc_requests_in_flight", (("face", "http"), ("route", ROUTE)))] == 0
    assert http_after[("chatrpc_streams_in_flight", (("face", "http"), ("route", ROUTE)))] == 0

    assert grpc(requests, face="grpc", route="Chat", model=MODEL, code="OK") == 2
    assert grpc(requests, face="grpc", route="StreamChat", model=MODEL, code="OK") == 2
    assert grpc(requests, face="grpc", route="Chat", model=MODEL, code="UNAVAILABLE") == 1
    assert grpc(requests, face="grpc", route="Chat", model=MODEL, code="INVALID_ARGUMENT") == 1
    assert grpc("chatrpc_refusals_total", face="grpc", reason="validation") == 1
    assert grpc("chatrpc_time_to_first_token_seconds_count", face="grpc", model=MODEL) == 4
    # 3 outputs → 2 gaps, twice; 4 outputs → 3 gaps, twice
    assert grpc("chatrpc_inter_token_latency_seconds_count", face="grpc", model=MODEL) == 10
    assert grpc("chatrpc_queue_wait_seconds_count", face="grpc", model=MODEL) == 5
    assert grpc("chatrpc_completion_tokens_total", model=MODEL) == 3 + 3 + 4 + 4
    assert grpc("chatrpc_prompt_tokens_total", model=MODEL) == prompt_tokens > 0
    store = "chatrpc_store_operation_duration_seconds_count"
    assert grpc(store, store="sqlite", operation="load_history") == 2
    assert grpc(store, store="sqlite", operation="commit_turn") == 2
    assert grpc_after[("chatrpc_model_queue_depth", (("model", MODEL),))] == 0
    assert grpc_after[("chatrpc_requests_in_flight", (("face", "grpc"), ("route", "Chat")))] == 0


def _docs_table() -> dict[str, set[str]]:
    """The docs' metric table (docs/operations/observability.md): name → its labels."""
    section = OBSERVABILITY.read_text()
    rows = re.findall(r"^\| `(chatrpc_[a-z_]+)` \| [a-z]+ \| ([^|]*) \|", section, re.MULTILINE)
    return {name: set(re.findall(r"`([a-z_]+)`", labels)) for name, labels in rows}


def _registered() -> dict[str, set[str]]:
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            found[name] = set(value._labelnames)
    return found


def test_docs_table_names_every_registered_metric_with_its_labels():
    assert _docs_table() == _registered()


def test_streamed_ttft_observation_is_what_the_client_measured(faces: Faces):
    with httpx.Client(base_url=faces.gateway.url, timeout=10) as client:
        client.get("/health")  # the connection is open before the timed request
        before = scrape(faces.gateway.metrics_url)
        faces.backend.enqueue(["first", "second"], delay=0.2)
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        sent = time.perf_counter()
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            chunks = response.iter_raw()
            next(chunks)
            measured = time.perf_counter() - sent
            for _ in chunks:
                pass
    after = scrape(faces.gateway.metrics_url)
    observed = moved(
        before, after, "chatrpc_time_to_first_token_seconds_sum", face="http", model=MODEL
    )
    assert measured >= 0.2
    assert abs(observed - measured) < 0.015, (observed, measured)


def test_a_route_added_later_is_counted_by_its_template_and_model(faces: Faces):
    before = scrape(faces.gateway.metrics_url)
    for stream in (False, True):
        body = {"model": MODEL, "input": "hi", "stream": stream}
        response = httpx.post(faces.gateway.url + "/v1/responses", json=body, timeout=10)
        assert response.status_code == 200, response.text
    after = scrape(faces.gateway.metrics_url)
    labels = {"face": "http", "route": "/v1/responses", "model": MODEL, "code": "200"}
    assert moved(before, after, "chatrpc_requests_total", **labels) == 2
    ttft = moved(
        before, after, "chatrpc_time_to_first_token_seconds_count", face="http", model=MODEL
    )
    assert ttft == 1


def test_embeddings_are_counted_with_their_model(faces: Faces):
    before = scrape(faces.gateway.metrics_url)
    response = httpx.post(
        faces.gateway.url + "/v1/embeddings", json={"model": MODEL, "input": "hi"}, timeout=10
    )
    assert response.status_code == 200, response.text
    after = scrape(faces.gateway.metrics_url)
    labels = {"face": "http", "route": "/v1/embeddings", "model": MODEL, "code": "200"}
    assert moved(before, after, "chatrpc_requests_total", **labels) == 1
