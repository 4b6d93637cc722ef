"""Image content parts through the official openai SDK: passed to a vision model's upstream as
the client sent them (never fetched by us), kept in thread memory for later turns, refused by
name for models that do not take images, and bounded in count."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace

import openai
import pytest

from core.catalog import ModelCatalog
from tests.conftest import EMBEDDED
from tests.servers import upstream_model, with_models
from tests.upstream import UPSTREAM_KEY, FakeUpstream

VISION_UPSTREAM = "qwen-vl-fake"
# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
    )
).decode()
DATA_URL = f"data:image/png;base64,{PNG}"
HTTPS_URL = "https://images.example.com/cat.png?size=large&v=2"
CONTENT = [
    {"type": "text", "text": "What is in these images?"},
    {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "low"}},
    {"type": "image_url", "image_url": {"url": HTTPS_URL}},
]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream(keys={UPSTREAM_KEY}, models={VISION_UPSTREAM: 4096})
    yield server
    server.stop()


@pytest.fixture
def catalog(catalog: ModelCatalog, fake: FakeUpstream) -> ModelCatalog:
    spec, backend = upstream_model("vision", fake.url, VISION_UPSTREAM, UPSTREAM_KEY)
    return with_models(catalog, (replace(spec, vision=True), backend))


def test_an_image_part_reaches_a_vision_upstream_as_sent(openai_client, fake):
    reply = openai_client.chat.completions.create(
        model="vision", messages=[{"role": "user", "content": CONTENT}]
    )
    assert reply.choices[0].message.content == "Hello, world"
    (request,) = fake.chat_requests
    assert request.body["messages"] == [{"role": "user", "content": CONTENT}]


def test_a_later_turn_on_the_thread_carries_the_image_again(openai_client, fake):
    thread = {"thread_id": "vision-1"}
    openai_client.chat.completions.create(
        model="vision", messages=[{"role": "user", "content": CONTENT}], extra_body=thread
    )
    openai_client.chat.completions.create(
        model="vision",
        messages=[{"role": "user", "content": "And the colours?"}],
        extra_body=thread,
    )
    second = fake.chat_requests[1].body["messages"]
    assert second[0] == {"role": "user", "content": CONTENT}
    assert second[1] == {"role": "assistant", "content": "Hello, world"}
    assert second[2] == {"role": "user", "content": "And the colours?"}


def test_an_input_image_reaches_the_upstream_from_the_responses_api(openai_client, fake):
    content = [
        {"type": "input_text", "text": "Describe it."},
        {"type": "input_image", "image_url": DATA_URL, "detail": "high"},
    ]
    openai_client.responses.create(
        model="vision", input=[{"role": "user", "content": content}], store=False
    )
    (request,) = fake.chat_requests
    assert request.body["messages"][0]["content"] == [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "high"}},
    ]


def test_a_model_without_vision_refuses_the_image_part_by_name(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model=EMBEDDED, messages=[{"role": "user", "content": CONTENT}]
        )
    error = caught.value.body
    assert error["param"] == "messages[0].content[1]"
    assert "image_url" in error["message"] and EMBEDDED in error["message"]


@pytest.mark.parametrize(
    ("url", "count", "words"),
    [
        ("http://plain.example.com/cat.png", 1, "https URL"),
        ("data:text/plain;base64,aGk=", 1, "image MIME type"),
        (HTTPS_URL, 17, "at most 16 images"),
    ],
)
def test_image_urls_and_counts_are_bounded(openai_client, fake, url, count, words):
    parts = [{"type": "image_url", "image_url": {"url": url}}] * count
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="vision", messages=[{"role": "user", "content": parts}]
        )
    assert words in caught.value.body["message"]
    assert fake.chat_requests == []
