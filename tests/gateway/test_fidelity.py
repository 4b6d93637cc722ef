"""What the client said reaches the upstream as it said it: the output cap under the name a
reasoning model takes, `strict`, provider parameters the model's catalog entry allows, and an
upstream's `content_filter` back to the client, on both HTTP APIs (the official openai SDK as
the client, the strict fake of tests/upstream.py as the upstream)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import openai
import pytest

from core.catalog import ModelCatalog
from tests.conftest import EMBEDDED
from tests.servers import upstream_model, with_models
from tests.upstream import (
    UPSTREAM_KEY,
    FakeUpstream,
    ModelLimits,
    Scenario,
    finish_chunk,
    text_chunk,
)

REASONING_UPSTREAM = "o-fake"  # refuses max_tokens, as OpenAI's reasoning models do
PLAIN_UPSTREAM = "plain-fake"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": SCHEMA, "strict": True},
}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    limits = {
        REASONING_UPSTREAM: ModelLimits(max_output_tokens=100_000, reasoning=True),
        PLAIN_UPSTREAM: 32768,
    }
    server = FakeUpstream(keys={UPSTREAM_KEY}, models=limits)
    yield server
    server.stop()


@pytest.fixture
def catalog(catalog: ModelCatalog, fake: FakeUpstream) -> ModelCatalog:
    """ "reasoner" names the cap field; "reasoner-unnamed" does not; "thinking" allows two
    provider fields; "plain" none; the embedded model allows llama.cpp's top_k and min_p."""
    reasoner = upstream_model(
        "reasoner",
        fake.url,
        REASONING_UPSTREAM,
        UPSTREAM_KEY,
        max_tokens_field="max_completion_tokens",
    )
    unnamed = upstream_model("reasoner-unnamed", fake.url, REASONING_UPSTREAM, UPSTREAM_KEY)
    spec, backend = upstream_model("thinking", fake.url, PLAIN_UPSTREAM, UPSTREAM_KEY)
    thinking = (replace(spec, extra_params=frozenset({"enable_thinking", "top_k"})), backend)
    plain = upstream_model("plain", fake.url, PLAIN_UPSTREAM, UPSTREAM_KEY)
    embedded = replace(catalog.get(EMBEDDED), extra_params=frozenset({"top_k", "min_p"}))
    extended = with_models(catalog, reasoner, unnamed, thinking, plain)
    return with_models(extended, (embedded, catalog.backend(EMBEDDED)))


def _body(fake: FakeUpstream) -> dict:
    (request,) = fake.chat_requests
    return request.body


# --- output caps -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_the_cap_reaches_a_reasoning_model_under_the_configured_name(openai_client, fake, field):
    reply = openai_client.chat.completions.create(
        model="reasoner", messages=[{"role": "user", "content": "hi"}], **{field: 50}
    )
    assert reply.choices[0].message.content == "Hello, world"
    body = _body(fake)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


def test_without_a_configured_name_the_upstream_hears_the_clients_name(openai_client, fake):
    openai_client.chat.completions.create(
        model="reasoner-unnamed",
        messages=[{"role": "user", "content": "hi"}],
        max_completion_tokens=40,
    )
    assert _body(fake)["max_completion_tokens"] == 40
    fake.reset()
    with pytest.raises(openai.BadRequestError):  # the fake refuses max_tokens, as OpenAI does
        openai_client.chat.completions.create(
            model="reasoner-unnamed", messages=[{"role": "user", "content": "hi"}], max_tokens=40
        )
    assert "max_tokens" in _body(fake)


def test_responses_max_output_tokens_reaches_a_reasoning_model(openai_client, fake):
    response = openai_client.responses.create(model="reasoner", input="hi", max_output_tokens=30)
    assert response.output_text == "Hello, world"
    assert _body(fake)["max_completion_tokens"] == 30


# --- strict ------------------------------------------------------------------------------------


def test_strict_reaches_the_upstream_from_chat_completions(openai_client, fake):
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "forecast", "schema": SCHEMA, "strict": True},
    }
    reply = openai_client.chat.completions.create(
        model="plain",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[TOOL],
        response_format=response_format,
    )
    body = _body(fake)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["response_format"]["json_schema"]["strict"] is True
    assert json.loads(reply.choices[0].message.content) == {"city": "x", "days": 1}


def test_strict_reaches_the_upstream_from_the_responses_api(openai_client, fake):
    tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA, "strict": True}
    text = {"format": {"type": "json_schema", "name": "forecast", "schema": SCHEMA, "strict": True}}
    response = openai_client.responses.create(
        model="plain", input="Weather?", tools=[tool], text=text
    )
    body = _body(fake)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["response_format"]["json_schema"]["strict"] is True
    assert json.loads(response.output_text) == {"city": "x", "days": 1}


def test_without_strict_nothing_is_said_and_the_upstream_answers_best_effort(openai_client, fake):
    response_format = {"type": "json_schema", "json_schema": {"name": "f", "schema": SCHEMA}}
    reply = openai_client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hi"}], response_format=response_format
    )
    assert "strict" not in _body(fake)["response_format"]["json_schema"]
    assert reply.choices[0].message.content == "Hello, world"


# --- provider parameters -----------------------------------------------------------------------


def test_allowed_provider_parameters_reach_the_upstream_as_sent(openai_client, fake):
    openai_client.chat.completions.create(
        model="thinking",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"enable_thinking": False, "top_k": 20},
    )
    body = _body(fake)
    assert body["enable_thinking"] is False
    assert body["top_k"] == 20 and isinstance(body["top_k"], int)


def test_allowed_provider_parameters_reach_the_upstream_from_the_responses_api(openai_client, fake):
    openai_client.responses.create(
        model="thinking", input="hi", extra_body={"enable_thinking": True}
    )
    assert _body(fake)["enable_thinking"] is True


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_provider_parameter_the_model_does_not_take_is_a_400_naming_it(openai_client, fake, api):
    extra = {"extra_body": {"enable_thinking": False}}
    create = (
        partial(openai_client.chat.completions.create, messages=[{"role": "user", "content": "hi"}])
        if api == "chat"
        else partial(openai_client.responses.create, input="hi")
    )
    with pytest.raises(openai.BadRequestError) as caught:
        create(model="plain", **extra)
    error = caught.value.body
    assert error["param"] == "enable_thinking"
    assert "enable_thinking" in error["message"]
    assert fake.chat_requests == []


def test_the_embedded_model_takes_llama_cpp_sampler_parameters(openai_client):
    reply = openai_client.chat.completions.create(
        model=EMBEDDED,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=4,
        extra_body={"top_k": 1, "min_p": 0.1},
    )
    assert reply.usage.completion_tokens >= 1
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model=EMBEDDED,
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=4,
            extra_body={"top_k": "many"},
        )
    assert caught.value.body["param"] == "top_k"


# --- content filter ----------------------------------------------------------------------------

FILTERED = Scenario(chunks=(text_chunk("I can"), finish_chunk("content_filter")))


def test_content_filter_reaches_chat_completions(openai_client, fake, openapi):
    fake.reset(FILTERED)
    reply = openai_client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].finish_reason == "content_filter"
    openapi.validate(reply.model_dump(exclude_unset=True), "CreateChatCompletionResponse")
    fake.reset(FILTERED)
    chunks = list(
        openai_client.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


def test_content_filter_reaches_the_responses_api(openai_client, fake):
    fake.reset(FILTERED)
    response = openai_client.responses.create(model="plain", input="hi")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"
    fake.reset(FILTERED)
    events = list(openai_client.responses.create(model="plain", input="hi", stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "content_filter"
