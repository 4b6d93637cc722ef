"""The Responses API: the official openai SDK against the gateway (real uvicorn) and a real core;
every body and stream event validated against OpenAI's OpenAPI document."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai.types.responses import Response

import chatrpc
from core.errors import BackendUnavailableError
from core.types import FinishReason
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import EMBEDDED
from tests.fakes import tool_call_chunks
from tests.servers import CoreThread, GatewayThread

# event type → its component schema in the OpenAPI document
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


def stream_events(url: str, body: dict, openapi) -> list[dict]:
    """POSTs a streamed request; every event's name matches its data, which is validated."""
    events = []
    with httpx.stream("POST", url + "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    for name, data in zip(lines[::2], lines[1::2], strict=True):
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        openapi.validate(event, EVENT_SCHEMAS[event["type"]])
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def output_of(response) -> list[dict]:
    """A response's output items as JSON, without the SDK helper's own `parsed` fields."""
    items = response.model_dump(mode="json")["output"]
    for item in items:
        for part in item.get("content") or ():
            part.pop("parsed", None)
    return items


def prompt(scripted) -> list[tuple[str, str]]:
    return [(m.role.value, m.content) for m in scripted.calls[-1].prompt.messages]


def test_create_returns_a_response_object(openai_client, scripted, openapi, gateway):
    scripted.enqueue(["Hi", " there"], prompt_tokens=9)
    response = openai_client.responses.create(
        model="scripted", input="hello", instructions="Be brief.", temperature=0.5, top_p=0.9
    )
    assert isinstance(response, Response)
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "Hi there" and response.model == "scripted"
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 2)
    assert (response.instructions, response.temperature, response.top_p) == ("Be brief.", 0.5, 0.9)
    assert prompt(scripted) == [("system", "Be brief."), ("user", "hello")]
    assert scripted.calls[-1].params.temperature == 0.5

    scripted.enqueue(["x"])
    raw = httpx.post(gateway.url + "/v1/responses", json={"input": "hi", "max_output_tokens": 16})
    openapi.validate(raw.json(), "Response")
    assert raw.json()["thread_id"].startswith("conv_")
    assert scripted.calls[-1].params.max_tokens == 16


def test_stream_events_follow_openais_order_and_shapes(scripted, openapi, gateway):
    scripted.enqueue(["a", "b", "c"])
    events = stream_events(gateway.url, {"model": "scripted", "input": "hello"}, openapi)
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * (kinds.count("response.output_text.delta")),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "".join(e["delta"] for e in events if "delta" in e) == "abc"
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "abc"
    assert events[0]["response"]["status"] == "in_progress"
    assert "usage" not in events[0]["response"]


def test_sdk_stream_helper_accumulates_the_same_response_as_create(openai_client, scripted):
    scripted.enqueue(["Green", " tea", "."])
    with openai_client.responses.stream(model="scripted", input="Tea?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Green tea." and final.output_text == "Green tea."
    retrieved = openai_client.responses.retrieve(final.id)
    assert output_of(retrieved) == output_of(final) and retrieved.usage == final.usage

    scripted.enqueue(["Green", " tea", "."])
    created = openai_client.responses.create(model="scripted", input="Tea?")
    assert created.output_text == final.output_text and created.usage == final.usage


def test_three_turns_survive_a_core_restart_and_read_as_a_thread(
    catalog, scripted, sqlite_url, openapi
):
    def serve() -> tuple[CoreThread, GatewayThread, openai.OpenAI]:
        core = CoreThread(catalog, database_url=sqlite_url)
        gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
        return core, gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="x")

    for text in ("Hello Lin.", "Your name is Lin.", "Lin, as I said."):
        scripted.enqueue([text])
    core, gateway, client = serve()
    try:
        first = client.responses.create(model="scripted", input="My name is Lin.")
        second = client.responses.create(
            model="scripted", input="What is my name?", previous_response_id=first.id
        )
    finally:
        gateway.stop()
        core.stop()
    core, gateway, client = serve()  # a fresh core on the same SQLite file
    try:
        with client.responses.stream(
            model="scripted", input="Again?", previous_response_id=second.id
        ) as stream:
            third = stream.get_final_response()
        assert prompt(scripted) == [
            ("user", "My name is Lin."),
            ("assistant", "Hello Lin."),
            ("user", "What is my name?"),
            ("assistant", "Your name is Lin."),
            ("user", "Again?"),
        ]
        thread_id = first.model_extra["thread_id"]
        assert second.model_extra["thread_id"] == third.model_extra["thread_id"] == thread_id
        thread = httpx.get(f"{gateway.url}/v1/threads/{thread_id}").json()
        contents = [m["content"] for m in thread["messages"]]
        assert contents == [
            "My name is Lin.",
            "Hello Lin.",
            "What is my name?",
            "Your name is Lin.",
            "Again?",
            "Lin, as I said.",
        ]
        with chatrpc.Client(core.target) as sdk:
            rpc_thread = sdk.get_thread(thread_id)
        assert [m.message.content for m in rpc_thread.messages] == contents
        assert rpc_thread.messages[-1].turn_id == "chatcmpl-" + third.id.removeprefix("resp_")
        chain = [
            client.responses.retrieve(r.id).previous_response_id for r in (first, second, third)
        ]
        assert chain == [None, first.id, second.id]
        raw = httpx.get(f"{gateway.url}/v1/responses/{third.id}").json()
        openapi.validate(raw, "Response")
        assert output_of(client.responses.retrieve(third.id)) == output_of(third)
    finally:
        gateway.stop()
        core.stop()


@pytest.mark.postgres
def test_a_conversation_continues_on_another_replica(catalog, scripted, clean_postgres_url):
    cores = [CoreThread(catalog, database_url=clean_postgres_url) for _ in range(2)]
    gateways = [
        GatewayThread(create_app(Settings(core_target=c.target, auth="disabled"))) for c in cores
    ]
    a, b = (openai.OpenAI(base_url=g.url + "/v1", api_key="x", max_retries=0) for g in gateways)
    try:
        first = a.responses.create(model="scripted", input="one")
        second = b.responses.create(model="scripted", input="two", previous_response_id=first.id)
        third = a.responses.create(model="scripted", input="three", previous_response_id=second.id)
        assert prompt(scripted) == [
            ("user", "one"),
            ("assistant", "ok"),
            ("user", "two"),
            ("assistant", "ok"),
            ("user", "three"),
        ]
        assert b.responses.retrieve(third.id).previous_response_id == second.id
        with pytest.raises(openai.BadRequestError):  # no branching on the other replica either
            b.responses.create(model="scripted", input="b", previous_response_id=first.id)
    finally:
        for server in (*gateways, *cores):
            server.stop()


def test_function_calls_round_trip_as_items(openai_client, scripted, openapi, gateway):
    call = tool_call_chunks(0, "call_abc123", "get_weather", '{"city": "Hangzhou"}')
    scripted.enqueue(call, finish=FinishReason.TOOL_CALLS)
    first = openai_client.responses.create(model="scripted", input="Weather?", tools=[WEATHER])
    (item,) = first.output
    assert (item.type, item.call_id, item.name) == ("function_call", "call_abc123", "get_weather")
    assert json.loads(item.arguments) == {"city": "Hangzhou"}
    assert scripted.calls[-1].prompt.tools[0].name == "get_weather"

    scripted.enqueue(["Sunny in Hangzhou."])
    second = openai_client.responses.create(
        model="scripted",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": "call_abc123", "output": "sunny"}],
    )
    assert second.output_text == "Sunny in Hangzhou."
    sent = scripted.calls[-1].prompt.messages
    assert [m.role.value for m in sent] == ["user", "assistant", "tool"]
    assert sent[1].tool_calls[0].id == "call_abc123" and sent[2].tool_call_id == "call_abc123"

    scripted.enqueue(call, finish=FinishReason.TOOL_CALLS)
    body = {"model": "scripted", "input": "Weather?", "tools": [WEATHER]}
    events = stream_events(gateway.url, body, openapi)
    kinds = [e["type"] for e in events]
    assert kinds[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[-1]["response"]["output"][0]["arguments"] == '{"city": "Hangzhou"}'


def test_function_call_items_in_the_input_join_their_assistant_message(openai_client, scripted):
    scripted.enqueue(["It is sunny."])
    openai_client.responses.create(
        model="scripted",
        store=False,
        tools=[WEATHER],
        include=[],
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {
                "type": "function_call",
                "call_id": "call_2",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": "warm"},
        ],
    )
    sent = scripted.calls[-1].prompt.messages
    assert [m.role.value for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [c.id for c in sent[1].tool_calls] == ["call_1", "call_2"]


def test_retrieve_input_items_and_delete(openai_client, scripted, openapi, gateway):
    first = openai_client.responses.create(model="scripted", input="one")
    second = openai_client.responses.create(
        model="scripted",
        previous_response_id=first.id,
        input=[
            {"role": "user", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )
    items = openai_client.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == ["three", "two"]  # newest first
    ascending = openai_client.responses.input_items.list(second.id, order="asc", limit=1)
    assert [i.content[0].text for i in ascending.data] == ["two"] and ascending.has_more
    raw = httpx.get(f"{gateway.url}/v1/responses/{second.id}/input_items").json()
    openapi.validate(raw, "ResponseItemList")

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.delete(first.id)  # second was generated from it
    assert (caught.value.code, caught.value.param) == ("turn_not_latest", "response_id")
    openai_client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(second.id)
    assert openai_client.responses.retrieve(first.id).output_text == "ok"
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve("not-a-response-id")


def test_store_false_is_not_retrievable_and_leaves_the_thread_alone(openai_client, scripted):
    first = openai_client.responses.create(model="scripted", input="one")
    scripted.enqueue(["side answer"])
    side = openai_client.responses.create(
        model="scripted", input="two", previous_response_id=first.id, store=False
    )
    assert side.output_text == "side answer" and side.store is False
    assert prompt(scripted) == [("user", "one"), ("assistant", "ok"), ("user", "two")]
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(side.id)
    later = openai_client.responses.create(
        model="scripted", input="three", previous_response_id=first.id
    )
    assert later.output_text == "ok"  # first is still the latest: the side turn stored nothing


def test_text_format_json_schema_reaches_the_model(openai_client, scripted):
    scripted.enqueue(['{"tea": "longjing"}'])
    schema = {"type": "object", "properties": {"tea": {"type": "string"}}}
    response = openai_client.responses.create(
        model="scripted",
        input="A tea as JSON.",
        text={"format": {"type": "json_schema", "name": "tea", "schema": schema}},
    )
    assert json.loads(response.output_text) == {"tea": "longjing"}
    fmt = scripted.calls[-1].prompt.response_format
    assert (fmt.type.value, fmt.name, fmt.schema) == ("json_schema", "tea", schema)
    assert response.text.format.type == "json_schema"


def test_max_output_tokens_reached_is_incomplete(openai_client, scripted, openapi, gateway):
    scripted.enqueue(["cut"], finish=FinishReason.LENGTH)
    response = openai_client.responses.create(
        model="scripted", input="Long story.", max_output_tokens=1
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    scripted.enqueue(["cut"], finish=FinishReason.LENGTH)
    events = stream_events(gateway.url, {"input": "Long story.", "max_output_tokens": 1}, openapi)
    assert events[-1]["type"] == "response.incomplete"


def test_a_failure_after_the_first_token_is_a_response_failed_event(
    openai_client, scripted, openapi, gateway
):
    scripted.enqueue(["partial", "more"], fail_after=1, error=BackendUnavailableError("gone"))
    events = stream_events(gateway.url, {"model": "scripted", "input": "hi"}, openapi)
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert not any(e["type"] == "response.completed" for e in events)
    with pytest.raises(openai.NotFoundError):  # a failed turn is never stored
        openai_client.responses.retrieve(failed["id"])
    scripted.enqueue(["partial", "more"], fail_after=1, error=BackendUnavailableError("gone"))
    with pytest.raises(openai.InternalServerError) as caught:  # non-stream: a real HTTP error
        openai_client.responses.create(model="scripted", input="hi")
    assert caught.value.status_code == 503 and caught.value.code == "backend_unavailable"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi", "frequency": 1}, "frequency"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input[0].content[0]",
        ),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "hi", "temperature": 5}, "temperature"),
        ({"input": []}, "input"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": "hi", "include": ["reasoning.encrypted_content"]}, "include"),
        (
            {"input": "hi", "previous_response_id": "resp_000000000000000000000000"},
            "previous_response_id",
        ),
    ],
)
def test_bad_requests_fail_before_model_work_in_openais_envelope(
    openai_client, scripted, body, param
):
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.post("/responses", body=body, cast_to=Response)
    assert caught.value.status_code in (400, 404)
    error = caught.value.body
    assert error["param"] == param and error["type"] in ("invalid_request_error", "not_found_error")
    assert scripted.calls == []


def test_continuing_from_an_earlier_response_is_a_clear_400(openai_client, scripted):
    first = openai_client.responses.create(model="scripted", input="one")
    openai_client.responses.create(model="scripted", input="two", previous_response_id=first.id)
    calls = len(scripted.calls)
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="scripted", input="b", previous_response_id=first.id)
    assert caught.value.code == "turn_not_latest" and "branching" in caught.value.message
    assert caught.value.param == "previous_response_id"
    assert len(scripted.calls) == calls


@pytest.mark.model
def test_the_embedded_model_holds_a_two_turn_conversation(openai_client, openapi, gateway):
    first = openai_client.responses.create(
        model=EMBEDDED, input="My name is Lin. Say hello.", max_output_tokens=12, temperature=0
    )
    assert first.output_text and first.status in ("completed", "incomplete")
    with openai_client.responses.stream(
        model=EMBEDDED,
        input="What is my name?",
        previous_response_id=first.id,
        max_output_tokens=12,
        temperature=0,
    ) as stream:
        events = list(stream)
    # 12 tokens may cut the reply short: then it ends `response.incomplete`, as OpenAI's does.
    assert events[-1].type in ("response.completed", "response.incomplete")
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    second = openai_client.responses.retrieve(events[-1].response.id)
    assert "".join(deltas) == second.output_text and second.output_text
    assert second.previous_response_id == first.id
    assert second.usage.input_tokens > first.usage.input_tokens  # the first turn is context
    openapi.validate(httpx.get(f"{gateway.url}/v1/responses/{second.id}").json(), "Response")
