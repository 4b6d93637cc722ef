"""MCP tools run by the core: a real FastMCP server (stdio and streamable HTTP on 127.0.0.1),
the scripted model calling its tools, through the SDK against a real core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import chatrpc
from core.settings import Settings
from core.types import FinishReason
from tests.fakes import ScriptedBackend, tool_call_chunks
from tests.mcp_server import requests_in, running_http, stdio_command
from tests.servers import CoreThread

WEATHER = chatrpc.McpTool("weather", require_approval="never")


def config(tmp_path: Path, log: Path, url: str = "", **limits: object) -> Path:
    command, args, env = stdio_command(log)
    lines = [f"allowed_urls = {json.dumps([url] if url else [])}", "[limits]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in limits.items()]
    lines += [
        "[servers.weather]",
        f"command = {json.dumps(command)}",
        f"args = {json.dumps(args)}",
        "env = {" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + "}",
    ]
    path = tmp_path / "mcp.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "mcp-requests.log"


@pytest.fixture
def http_url(tmp_path: Path) -> Iterator[str]:
    with running_http(tmp_path / "http-requests.log") as url:
        yield url


@pytest.fixture
def core(catalog, sqlite_url, tmp_path, log, http_url) -> Iterator[CoreThread]:
    settings = replace(Settings(), mcp_file=str(config(tmp_path, log, http_url)))
    server = CoreThread(catalog, database_url=sqlite_url, settings=settings)
    yield server
    server.stop()


@pytest.fixture
async def client(core: CoreThread):
    async with chatrpc.AsyncClient(core.target) as client:
        yield client


def calls_weather(scripted: ScriptedBackend, city: str = "Paris", call_id: str = "call_w1") -> None:
    arguments = json.dumps({"city": city})
    scripted.enqueue(
        tool_call_chunks(0, call_id, "get_weather", arguments), finish=FinishReason.TOOL_CALLS
    )


async def test_the_model_calls_a_stdio_tool_and_answers_from_its_real_output(client, scripted, log):
    calls_weather(scripted)
    scripted.enqueue(["It is sunny."])
    events = [
        e
        async for e in client.chat_stream(
            "Weather in Paris?", model="scripted", thread_id="mcp-1", mcp_tools=[WEATHER]
        )
    ]
    items = [e for e in events if isinstance(e, chatrpc.McpItem)]
    assert [(i.type, i.status) for i in items] == [
        (chatrpc.McpItemType.LIST_TOOLS, chatrpc.McpItemStatus.IN_PROGRESS),
        (chatrpc.McpItemType.LIST_TOOLS, chatrpc.McpItemStatus.COMPLETED),
        (chatrpc.McpItemType.CALL, chatrpc.McpItemStatus.IN_PROGRESS),
        (chatrpc.McpItemType.CALL, chatrpc.McpItemStatus.COMPLETED),
    ]
    assert {t.name for t in items[1].tools} == {"get_weather", "get_time", "fail"}
    assert items[3].output == "Sunny, 21 °C in Paris" and items[3].arguments == '{"city": "Paris"}'
    assert "call get_weather Paris" in requests_in(log)
    offered = {t.name for t in scripted.calls[0].prompt.tools}
    assert {"get_weather", "get_time", "fail"} <= offered
    second = scripted.calls[1].prompt.messages
    assert second[-1].role.value == "tool" and second[-1].content == "Sunny, 21 °C in Paris"
    assert second[-2].tool_calls[0].name == "get_weather"
    text = "".join(e.content for e in events if isinstance(e, chatrpc.MessageDelta))
    assert text == "It is sunny."
    assert isinstance(events[-1], chatrpc.Usage)
    stored = [m.message.role.value for m in (await client.get_thread("mcp-1")).messages]
    assert stored == ["user", "assistant", "tool", "assistant"]


async def test_unary_chat_folds_the_same_items(client, scripted):
    calls_weather(scripted, "Oslo")
    scripted.enqueue(["Sunny."])
    reply = await client.chat("Weather in Oslo?", model="scripted", mcp_tools=[WEATHER])
    assert [(i.type, i.status) for i in reply.mcp_items] == [
        (chatrpc.McpItemType.LIST_TOOLS, chatrpc.McpItemStatus.COMPLETED),
        (chatrpc.McpItemType.CALL, chatrpc.McpItemStatus.COMPLETED),
    ]
    assert reply.mcp_items[1].output == "Sunny, 21 °C in Oslo" and reply.content == "Sunny."


async def test_by_default_a_call_waits_for_approval_then_runs_when_approved(client, scripted, log):
    calls_weather(scripted, "Rome", "call_r1")
    first = await client.chat(
        "Weather in Rome?",
        model="scripted",
        thread_id="mcp-2",
        mcp_tools=[chatrpc.McpTool("weather")],
    )
    asked = [i for i in first.mcp_items if i.type is chatrpc.McpItemType.APPROVAL_REQUEST]
    assert len(asked) == 1 and asked[0].name == "get_weather" and asked[0].id == "mcpr_r1"
    assert not any(line.startswith("call") for line in requests_in(log))
    scripted.enqueue(["Sunny in Rome."])
    second = await client.chat(
        [],
        model="scripted",
        previous_turn_id=first.id,
        mcp_tools=[chatrpc.McpTool("weather")],
        mcp_approvals=[chatrpc.McpApprovalResponse(asked[0].id, approve=True)],
    )
    calls = [i for i in second.mcp_items if i.type is chatrpc.McpItemType.CALL]
    assert calls[0].output == "Sunny, 21 °C in Rome" and calls[0].approval_request_id == asked[0].id
    assert "call get_weather Rome" in requests_in(log)
    assert second.content == "Sunny in Rome."
    roles = [m.message.role.value for m in (await client.get_thread("mcp-2")).messages]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_a_denied_call_never_runs_and_the_model_is_told(client, scripted, log):
    calls_weather(scripted, "Lima", "call_l1")
    first = await client.chat(
        "Weather in Lima?",
        model="scripted",
        thread_id="mcp-3",
        mcp_tools=[chatrpc.McpTool("weather")],
    )
    scripted.enqueue(["I may not check."])
    second = await client.chat(
        [],
        model="scripted",
        previous_turn_id=first.id,
        mcp_tools=[chatrpc.McpTool("weather")],
        mcp_approvals=[chatrpc.McpApprovalResponse("mcpr_l1", approve=False, reason="private")],
    )
    assert not [i for i in second.mcp_items if i.type is chatrpc.McpItemType.CALL]
    assert not any(line.startswith("call") for line in requests_in(log))
    told = scripted.calls[-1].prompt.messages[-1]
    assert told.role.value == "tool" and "denied" in told.content and "private" in told.content


async def test_a_url_off_the_allow_list_is_refused_before_any_connection(
    client, scripted, tmp_path
):
    elsewhere = tmp_path / "elsewhere.log"
    with running_http(elsewhere) as url:
        tool = chatrpc.McpTool("other", server_url=url.replace("/mcp", "/other"))
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            await client.chat("hi", model="scripted", mcp_tools=[tool])
        assert caught.value.metadata["field"] == "mcp_tools[0].server_url"
        assert requests_in(elsewhere) == []
    with pytest.raises(chatrpc.InvalidRequestError) as caught:
        await client.chat("hi", model="scripted", mcp_tools=[chatrpc.McpTool("nobody")])
    assert caught.value.metadata["field"] == "mcp_tools[0].server_label"
    assert scripted.calls == []


async def test_an_allow_listed_http_server_gets_the_request_headers_for_that_call(
    client, scripted, http_url, tmp_path
):
    calls_weather(scripted, "Kyiv")
    scripted.enqueue(["Sunny."])
    tool = chatrpc.McpTool(
        "remote", server_url=http_url, require_approval="never", headers={"X-Token": "s3cret"}
    )
    reply = await client.chat("Weather in Kyiv?", model="scripted", mcp_tools=[tool])
    assert reply.mcp_items[-1].output == "Sunny, 21 °C in Kyiv"
    assert "call get_weather Kyiv" in requests_in(tmp_path / "http-requests.log")


async def test_failures_are_reported_and_calls_are_bounded(client, scripted):
    scripted.enqueue(tool_call_chunks(0, "call_f1", "fail", "{}"), finish=FinishReason.TOOL_CALLS)
    for i in range(7):
        calls_weather(scripted, f"City{i}", f"call_c{i}")
    scripted.enqueue(["Done."])
    reply = await client.chat("go", model="scripted", mcp_tools=[WEATHER])
    calls = [i for i in reply.mcp_items if i.type is chatrpc.McpItemType.CALL]
    assert calls[0].status is chatrpc.McpItemStatus.FAILED and "fail" in calls[0].error
    assert len(calls) == 8  # max_calls (8): then the model is asked without tools
    assert scripted.calls[-1].prompt.tools == () and reply.content == "Done."
    for i in range(8):  # then a model that calls anyway, past the limit, is not obeyed
        calls_weather(scripted, f"Town{i}", f"call_t{i}")
    calls_weather(scripted, "Extra", "call_e")
    reply = await client.chat("go", model="scripted", mcp_tools=[WEATHER])
    last = [i for i in reply.mcp_items if i.type is chatrpc.McpItemType.CALL][-1]
    assert last.name == "get_weather" and last.status is chatrpc.McpItemStatus.FAILED
    assert "Not run" in last.error and reply.finish_reason is chatrpc.FinishReason.STOP
