"""Background responses through the official openai SDK: create, poll, resume, cancel; every
body and stream event validated against OpenAI's OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from core.catalog import ModelCatalog
from gateway.app import create_app
from gateway.settings import Settings
from tests.gateway.test_responses import EVENT_SCHEMAS
from tests.servers import CoreThread, GatewayThread
from tests.upstream import FakeUpstream, Scenario, with_upstream

WORDS = [f"w{i} " for i in range(12)]


def checked(events, openapi) -> list[dict]:
    """The SDK's stream events as JSON, each validated against its component schema."""
    out = []
    for event in events:
        data = event.model_dump(mode="json", exclude_unset=True)
        openapi.validate(data, EVENT_SCHEMAS[data["type"]])
        out.append(data)
    return out


def wait_until_ended(client: openai.OpenAI, response_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        assert time.monotonic() < deadline, "the background response did not end"
        time.sleep(0.05)


def test_create_returns_at_once_and_polls_to_the_completed_response(
    openai_client, scripted, openapi
):
    scripted.enqueue(WORDS, delay=0.05)
    created = openai_client.responses.create(model="scripted", input="hi", background=True)
    assert created.status == "in_progress" and created.background is True
    openapi.validate(created.model_dump(mode="json", exclude_unset=True), "Response")
    final = wait_until_ended(openai_client, created.id)
    assert final.status == "completed" and final.output_text == "".join(WORDS)
    assert final.background is True and final.usage is not None
    openapi.validate(final.model_dump(mode="json", exclude_unset=True), "Response")
    # The turn is stored as any response is: the conversation continues from it.
    scripted.enqueue(["more"])
    after = openai_client.responses.create(
        model="scripted", input="and?", previous_response_id=final.id
    )
    assert after.output_text == "more"


def test_a_dropped_stream_resumes_after_its_last_event_exactly_once(
    openai_client, scripted, openapi
):
    scripted.enqueue(WORDS, delay=0.05)
    stream = openai_client.responses.create(
        model="scripted", input="hi", background=True, stream=True
    )
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 5:
            break
    stream.close()  # the client goes away; the turn runs on
    first = checked(seen, openapi)
    response_id, last = first[0]["response"]["id"], first[-1]["sequence_number"]
    resumed = checked(
        openai_client.responses.retrieve(response_id, stream=True, starting_after=last), openapi
    )
    whole = checked(openai_client.responses.retrieve(response_id, stream=True), openapi)
    assert [e["sequence_number"] for e in whole] == list(range(len(whole)))
    assert first + resumed == whole  # every event once, numbered alike on every replay
    assert resumed[-1]["type"] == "response.completed"
    polled = openai_client.responses.retrieve(response_id)
    assert resumed[-1]["response"] == polled.model_dump(mode="json", exclude_unset=True)
    assert polled.status == "completed"


def test_cancel_ends_the_response_cancelled_and_stores_nothing(openai_client, scripted, openapi):
    scripted.enqueue([f"w{i} " for i in range(400)], delay=0.02)
    created = openai_client.responses.create(model="scripted", input="hi", background=True)
    cancelled = openai_client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    openapi.validate(cancelled.model_dump(mode="json", exclude_unset=True), "Response")
    assert openai_client.responses.retrieve(created.id).status == "cancelled"
    events = checked(openai_client.responses.retrieve(created.id, stream=True), openapi)
    assert not any(e["type"] == "response.completed" for e in events)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi", "background": True, "store": False}, "background"),
        ({"input": "hi", "background": "yes"}, "background"),
    ],
)
def test_bad_background_requests_are_400s(openai_client, scripted, body, param):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.post("/responses", body={"model": "scripted", **body}, cast_to=object)
    assert caught.value.body["param"] == param
    assert scripted.calls == []


def test_starting_after_needs_stream_and_a_foreground_response_has_no_events(
    openai_client, scripted
):
    done = openai_client.responses.create(model="scripted", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.get(
            f"/responses/{done.id}", options={"params": {"starting_after": 3}}, cast_to=object
        )
    assert caught.value.body["param"] == "starting_after"
    with pytest.raises(openai.NotFoundError):
        list(openai_client.responses.retrieve(done.id, stream=True))
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.cancel(done.id)
    assert openai_client.responses.retrieve(done.id).status == "completed"


@pytest.fixture
def two_replicas(
    catalog: ModelCatalog, upstream: FakeUpstream, clean_postgres_url: str
) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    """Two cores on one PostgreSQL database, each behind a gateway of its own; only the
    first serves the upstream model."""
    cores = [
        CoreThread(with_upstream(catalog, upstream), database_url=clean_postgres_url),
        CoreThread(catalog, database_url=clean_postgres_url),
    ]
    gateways = [
        GatewayThread(create_app(Settings(core_target=c.target, auth="disabled"))) for c in cores
    ]
    clients = [openai.OpenAI(base_url=g.url + "/v1", api_key="x", max_retries=0) for g in gateways]
    yield clients[0], clients[1]
    for client in clients:
        client.close()
    for server in (*gateways, *cores):
        server.stop()


@pytest.mark.postgres
def test_cancel_from_another_replica_drops_the_upstream_request(two_replicas, upstream):
    first, second = two_replicas
    upstream.reset(Scenario(mode="endless", interval=0.02))
    created = first.responses.create(model="upstream", input="hi", background=True)
    assert second.responses.retrieve(created.id).status == "in_progress"
    cancelled = second.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert upstream.disconnected.wait(5), "the upstream request was not dropped"
    assert first.responses.retrieve(created.id).status == "cancelled"
    with pytest.raises(openai.NotFoundError):  # nothing was stored: the log was all there was
        first.responses.input_items.list(created.id)
