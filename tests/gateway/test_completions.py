"""POST /v1/completions through the official openai SDK: the embedded model completes raw text
(no chat template), an upstream gets `/completions`; JSON and streamed chunks validated
against OpenAI's CreateCompletionResponse."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from core.catalog import ModelCatalog
from tests.conftest import EMBEDDED
from tests.servers import upstream_model, with_models
from tests.upstream import UPSTREAM_KEY, FakeUpstream, Scenario, finish_chunk, text_chunk

PLAIN_UPSTREAM = "plain-fake"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream(keys={UPSTREAM_KEY}, models={PLAIN_UPSTREAM: 4096})
    yield server
    server.stop()


@pytest.fixture
def catalog(catalog: ModelCatalog, fake: FakeUpstream) -> ModelCatalog:
    return with_models(catalog, upstream_model("plain", fake.url, PLAIN_UPSTREAM, UPSTREAM_KEY))


def validate_chunk(openapi, chunk: dict) -> None:
    """A streamed chunk against CreateCompletionResponse, which OpenAI documents as the
    streamed shape too but whose finish_reason enum has no null: OpenAI's own stream sends
    null until a choice ends, so a null is checked as the rest of the shape with "stop"."""
    shaped = dict(chunk)
    shaped["choices"] = [
        c | {"finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]
    ]
    openapi.validate(shaped, "CreateCompletionResponse")


def test_the_embedded_model_completes_raw_text(openai_client, openapi, counting_llama):
    completion = openai_client.completions.create(
        model=EMBEDDED, prompt="The capital of France is", max_tokens=5, temperature=0, seed=1
    )
    openapi.validate(completion.model_dump(exclude_unset=True), "CreateCompletionResponse")
    (choice,) = completion.choices
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert choice.text and choice.finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens <= 5
    # No chat template: the prompt is the text's own tokens (with the model's BOS, if any).
    assert (
        completion.usage.prompt_tokens
        <= len(counting_llama.tokenize(b"The capital of France is")) + 1
    )


def test_the_stream_folds_to_the_unary_text(openai_client, openapi):
    kwargs = {"model": EMBEDDED, "prompt": "Once upon a time", "max_tokens": 6, "temperature": 0}
    whole = openai_client.completions.create(seed=7, **kwargs)
    chunks = list(
        openai_client.completions.create(
            seed=7, stream=True, stream_options={"include_usage": True}, **kwargs
        )
    )
    for chunk in chunks:
        validate_chunk(openapi, chunk.model_dump(exclude_unset=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[
        0
    ].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_logprobs_come_in_the_legacy_shape(openai_client, openapi):
    completion = openai_client.completions.create(
        model=EMBEDDED, prompt="Tea is", max_tokens=3, temperature=0, logprobs=2
    )
    openapi.validate(completion.model_dump(exclude_unset=True), "CreateCompletionResponse")
    logprobs = completion.choices[0].logprobs
    assert (
        len(logprobs.tokens) == len(logprobs.token_logprobs) == completion.usage.completion_tokens
    )
    assert all(len(top) <= 2 for top in logprobs.top_logprobs)
    assert "".join(logprobs.tokens) == completion.choices[0].text


def test_an_upstream_gets_completions_and_several_prompts_number_their_choices(
    openai_client, fake, openapi
):
    completion = openai_client.completions.create(
        model="plain", prompt=["def add(a, b):", "SELECT"], max_tokens=20, n=1
    )
    openapi.validate(completion.model_dump(exclude_unset=True), "CreateCompletionResponse")
    assert [(c.index, c.text) for c in completion.choices] == [
        (0, "Hello, world"),
        (1, "Hello, world"),
    ]
    bodies = [r.body for r in fake.requests]
    assert [r.path for r in fake.requests] == ["/v1/completions"] * 2
    assert [b["prompt"] for b in bodies] == ["def add(a, b):", "SELECT"]
    assert "messages" not in bodies[0] and bodies[0]["max_tokens"] == 20


def test_an_upstream_content_filter_reaches_the_client(openai_client, fake, openapi):
    fake.reset(Scenario(chunks=(text_chunk("I can"), finish_chunk("content_filter"))))
    completion = openai_client.completions.create(model="plain", prompt="x")
    assert completion.choices[0].finish_reason == "content_filter"
    fake.reset(Scenario(chunks=(text_chunk("I can"), finish_chunk("content_filter"))))
    chunks = list(openai_client.completions.create(model="plain", prompt="x", stream=True))
    for chunk in chunks:
        validate_chunk(openapi, chunk.model_dump(exclude_unset=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"best_of": 3}, "best_of"),
        ({"extra_body": {"thread_id": "t1"}}, "thread_id"),  # no thread memory on this route
        ({"prompt": ""}, "prompt"),
    ],
)
def test_unserved_fields_are_400s_naming_them(openai_client, fake, extra, param):
    body = {"model": "plain", "prompt": "x"} | extra
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(**body)
    assert caught.value.body["param"] == param
    assert fake.requests == []
