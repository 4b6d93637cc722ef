"""Chat modes as data: chat_app (小盏), chat_knowledge (retrieval with sources), chat_flow
(rewrite → retrieve → persona), reachable from /api/v2, /v1 and gRPC."""

from __future__ import annotations

import httpx
import pytest

import chatrpc
from tests.conftest import EMBEDDED

TEAHOUSE_MD = """# 半盏青年茶馆营业时间

半盏青年茶馆每天上午十点开门，晚上十点打烊，周一店休。节假日照常营业。

# 茶单

招牌茶有桂花乌龙、白桃乌龙和陈皮普洱，每杯二十八元起。
"""
HOURS_EN = """# Opening hours

The Blue Door Library opens at 9 am and closes at 6 pm on weekdays. On Saturdays it opens at
noon. It is closed on Sundays.
"""
PARKING_EN = """# Parking

Visitors can park behind the building. Parking is free after 5 pm.
"""


def dbgpt_chat(gateway, messages: str, chat_mode: str, chat_param: str) -> dict:
    """One non-streamed DB-GPT chat with the scripted model in `chat_mode`; the reply's JSON."""
    body = {
        "messages": messages,
        "model": "scripted",
        "chat_mode": chat_mode,
        "chat_param": chat_param,
    }
    return httpx.post(gateway.url + "/api/v2/chat/completions", json=body).json()


@pytest.fixture
def teahouse(core_server):
    """A knowledge space the tests fill through the SDK (the same RPCs the routes use)."""
    with chatrpc.Client(core_server.target) as client:
        client.create_space("teahouse", name="半盏青年茶馆")
        client.add_document("teahouse", "docs/teahouse.md", TEAHOUSE_MD)
        client.create_space("library")
        client.add_document("library", "docs/hours.md", HOURS_EN)
        client.add_document("library", "docs/parking.md", PARKING_EN)
    return core_server


def test_chat_app_answers_as_xiaozhan(gateway, scripted):
    scripted.enqueue(["我是小盏，半盏青年茶馆的智能助手。"])
    reply = dbgpt_chat(gateway, "你是谁？", "chat_app", "xiaozhan")
    assert "小盏" in reply["choices"][0]["message"]["content"]
    system = scripted.calls[0].prompt.messages[0]
    assert (
        system.role.value == "system"
        and "你是小盏" in system.content
        and "半盏青年茶馆" in system.content
    )
    assert scripted.calls[0].params.temperature == 0.7  # the app's default sampling


@pytest.mark.model
def test_chat_app_runs_xiaozhan_on_the_embedded_model(core_server):
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat(
            "你好,请介绍一下你自己。", model=EMBEDDED, mode="app", app_id="xiaozhan", max_tokens=24
        )
    assert reply.content and reply.model == EMBEDDED and reply.usage.prompt_tokens > 40


@pytest.mark.parametrize(
    ("space", "question", "expected_source", "expected_text"),
    [
        ("teahouse", "茶馆几点开门？", "docs/teahouse.md", "上午十点开门"),
        ("library", "What time does the library open on Saturdays?", "docs/hours.md", "opens at"),
    ],
)
def test_chat_knowledge_retrieves_the_right_chunk_and_reports_sources(
    gateway, scripted, teahouse, space, question, expected_source, expected_text
):
    scripted.enqueue(["answer [1]"])
    reply = dbgpt_chat(gateway, question, "chat_knowledge", space)
    sources = reply["sources"]
    assert sources[0]["source"] == expected_source and expected_text in sources[0]["text"]
    assert sources[0]["index"] == 1
    context = [m.content for m in scripted.calls[0].prompt.messages if m.role.value == "system"]
    assert any(expected_text in c and "[1]" in c for c in context)


def test_sources_reach_stream_and_grpc_clients_too(gateway, scripted, teahouse, openai_client):
    scripted.enqueue(["ok"])
    stream = openai_client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "茶单有什么？"}],
        stream=True,
        extra_body={"chat_mode": "chat_knowledge", "chat_param": "teahouse"},
    )
    first = next(iter(stream))
    assert first.model_extra and first.model_extra["sources"][0]["source"] == "docs/teahouse.md"
    scripted.enqueue(["ok"])
    with chatrpc.Client(teahouse.target) as client:
        reply = client.chat("茶单有什么？", model="scripted", mode="knowledge", space_id="teahouse")
    assert reply.sources and "桂花乌龙" in reply.sources[0].text


def test_chat_flow_runs_its_steps_in_order(gateway, scripted, teahouse):
    """tea-faq: rewrite (the model's query) → retrieve (with that query) → persona 小盏."""
    scripted.enqueue(["营业时间 开门"])  # the rewrite step's answer: the search query
    scripted.enqueue(["我们上午十点开门。"])
    reply = dbgpt_chat(gateway, "你们啥时候能来喝茶", "chat_flow", "tea-faq")
    rewrite, answer = scripted.calls
    assert "standalone search query" in rewrite.prompt.messages[0].content
    assert rewrite.params.max_tokens == 64 and rewrite.params.temperature == 0.0
    assert reply["sources"][0]["source"] == "docs/teahouse.md"  # found with the rewritten query
    system = [m.content for m in answer.prompt.messages if m.role.value == "system"]
    assert "你是小盏" in system[0] and "上午十点开门" in system[1]
    assert reply["choices"][0]["message"]["content"] == "我们上午十点开门。"


def test_modes_on_the_openai_route_need_their_parameter(openai_client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"chat_mode": "chat_app"},
        )
    assert caught.value.param == "chat_param"


def test_space_routes(gateway):
    created = httpx.post(gateway.url + "/v1/spaces", json={"id": "notes", "name": "Notes"})
    assert created.status_code == 201 and created.json()["id"] == "notes"
    assert httpx.post(gateway.url + "/v1/spaces", json={"id": "notes"}).status_code == 409
    doc = httpx.post(
        gateway.url + "/v1/spaces/notes/documents",
        json={"source": "a.md", "text": "# A\n\nalpha beta gamma"},
    )
    assert doc.status_code == 201 and doc.json()["chunk_count"] >= 1
    listed = httpx.get(gateway.url + "/v1/spaces").json()["data"]
    assert [(s["id"], s["document_count"]) for s in listed] == [("notes", 1)]
    assert httpx.delete(gateway.url + "/v1/spaces/notes").json()["deleted"] is True
    assert httpx.delete(gateway.url + "/v1/spaces/notes").status_code == 404
    missing = httpx.post(
        gateway.url + "/v1/spaces/nope/documents", json={"source": "a", "text": "x"}
    )
    assert missing.status_code == 404
