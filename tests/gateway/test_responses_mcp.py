"""`mcp` tools on /v1/responses through the official openai SDK: a real FastMCP server on
streamable HTTP (127.0.0.1) and on stdio, the scripted model calling its tool; every body and
stream event validated against OpenAI's OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest

from core.settings import Settings
from core.types import FinishReason
from gateway.app import create_app
from gateway.settings import Settings as GatewaySettings
from tests.core.mcp.test_mcp_tools import calls_weather, config
from tests.fakes import tool_call_chunks
from tests.gateway.test_responses import EVENT_SCHEMAS
from tests.mcp_server import requests_in, running_http
from tests.servers import CoreThread, GatewayThread

MCP_EVENTS = {
    "response.mcp_list_tools.in_progress": "ResponseMCPListToolsInProgressEvent",
    "response.mcp_list_tools.completed": "ResponseMCPListToolsCompletedEvent",
    "response.mcp_list_tools.failed": "ResponseMCPListToolsFailedEvent",
    "response.mcp_call.in_progress": "ResponseMCPCallInProgressEvent",
    "response.mcp_call.completed": "ResponseMCPCallCompletedEvent",
    "response.mcp_call.failed": "ResponseMCPCallFailedEvent",
    "response.mcp_call_arguments.delta": "ResponseMCPCallArgumentsDeltaEvent",
    "response.mcp_call_arguments.done": "ResponseMCPCallArgumentsDoneEvent",
}
SCHEMAS = {**EVENT_SCHEMAS, **MCP_EVENTS}


@pytest.fixture
def http_log(tmp_path: Path) -> Path:
    return tmp_path / "http-requests.log"


@pytest.fixture
def stdio_log(tmp_path: Path) -> Path:
    return tmp_path / "stdio-requests.log"


@pytest.fixture
def http_url(http_log: Path) -> Iterator[str]:
    with running_http(http_log) as url:
        yield url


@pytest.fixture
def gateway(catalog, sqlite_url, tmp_path, stdio_log, http_url) -> Iterator[GatewayThread]:
    settings = replace(Settings(), mcp_file=str(config(tmp_path, stdio_log, http_url)))
    core = CoreThread(catalog, database_url=sqlite_url, settings=settings)
    server = GatewayThread(create_app(GatewaySettings(core_target=core.target, auth="disabled")))
    yield server
    server.stop()
    core.stop()


def remote(url: str, **fields: object) -> dict:
    return {"type": "mcp", "server_label": "remote", "server_url": url, **fields}


def dump(model) -> dict:
    return model.model_dump(mode="json", exclude_unset=True)


def test_a_call_to_an_http_server_runs_and_the_answer_uses_it(
    openai_client, scripted, openapi, http_url, http_log
):
    calls_weather(scripted, "Paris")
    scripted.enqueue(["It is sunny in Paris."])
    response = openai_client.responses.create(
        model="scripted",
        input="Weather in Paris?",
        tools=[remote(http_url, require_approval="never", headers={"X-Key": "s3cret"})],
    )
    body = dump(response)
    openapi.validate(body, "Response")
    kinds = [item["type"] for item in body["output"]]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    listed, call, _ = body["output"]
    assert {t["name"] for t in listed["tools"]} == {"get_weather", "get_time", "fail"}
    assert call["output"] == "Sunny, 21 °C in Paris" and call["status"] == "completed"
    assert response.output_text == "It is sunny in Paris."
    assert "call get_weather Paris" in requests_in(http_log)
    assert "s3cret" not in json.dumps(body)  # headers are never repeated
    assert scripted.calls[1].prompt.messages[-1].content == "Sunny, 21 °C in Paris"


def test_the_stream_names_every_mcp_step_as_openai_does(gateway, scripted, openapi):
    calls_weather(scripted, "Oslo")
    scripted.enqueue(["Sunny."])
    body = {
        "model": "scripted",
        "input": "Weather in Oslo?",
        "stream": True,
        "tools": [{"type": "mcp", "server_label": "weather", "require_approval": "never"}],
    }
    with httpx.stream("POST", gateway.url + "/v1/responses", json=body, timeout=60) as reply:
        lines = [line for line in reply.iter_lines() if line]
    events = [json.loads(data.removeprefix("data: ")) for data in lines[1::2]]
    for event in events:
        openapi.validate(event, SCHEMAS[event["type"]])
    kinds = [e["type"] for e in events]
    assert kinds[:13] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
    ]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]["output"]
    assert [i["type"] for i in final] == ["mcp_list_tools", "mcp_call", "message"]
    assert final[1]["output"] == "Sunny, 21 °C in Oslo"


def test_approval_by_previous_response_id_runs_the_call_and_denial_does_not(
    openai_client, scripted, openapi, stdio_log
):
    tools = [{"type": "mcp", "server_label": "weather"}]  # approval: "always", the default
    calls_weather(scripted, "Rome", "call_r1")
    asked = openai_client.responses.create(model="scripted", input="Weather in Rome?", tools=tools)
    openapi.validate(dump(asked), "Response")
    request = asked.output[-1]
    assert request.type == "mcp_approval_request" and request.name == "get_weather"
    assert not any(line.startswith("call") for line in requests_in(stdio_log))
    scripted.enqueue(["Sunny in Rome."])
    approved = openai_client.responses.create(
        model="scripted",
        previous_response_id=asked.id,
        tools=tools,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
    )
    openapi.validate(dump(approved), "Response")
    call = next(i for i in approved.output if i.type == "mcp_call")
    assert call.output == "Sunny, 21 °C in Rome" and call.approval_request_id == request.id
    assert approved.output_text == "Sunny in Rome."
    calls_weather(scripted, "Lima", "call_l1")
    asked = openai_client.responses.create(
        model="scripted", input="And Lima?", tools=tools, previous_response_id=approved.id
    )
    scripted.enqueue(["I may not look."])
    denied = openai_client.responses.create(
        model="scripted",
        previous_response_id=asked.id,
        tools=tools,
        input=[
            {
                "type": "mcp_approval_response",
                "approval_request_id": asked.output[-1].id,
                "approve": False,
                "reason": "not now",
            }
        ],
    )
    assert not [i for i in denied.output if i.type == "mcp_call"]
    assert "call get_weather Lima" not in requests_in(stdio_log)
    assert "not now" in scripted.calls[-1].prompt.messages[-1].content


def test_an_unlisted_server_url_is_a_400_before_any_connection(openai_client, scripted, tmp_path):
    log = tmp_path / "unlisted.log"
    with running_http(log) as url:
        function = {"type": "function", "name": "f", "parameters": {"type": "object"}}
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client.responses.create(
                model="scripted", input="hi", tools=[function, remote(url + "/x")]
            )
        assert caught.value.body["param"] == "tools[1].server_url"
        assert requests_in(log) == []
    assert scripted.calls == []


def test_a_client_function_call_ends_the_response_as_without_mcp(openai_client, scripted):
    function = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    scripted.enqueue(tool_call_chunks(0, "call_c1", "lookup", "{}"), finish=FinishReason.TOOL_CALLS)
    response = openai_client.responses.create(
        model="scripted",
        input="look it up",
        tools=[function, {"type": "mcp", "server_label": "weather", "require_approval": "never"}],
    )
    assert [i.type for i in response.output] == ["mcp_list_tools", "function_call"]
    assert response.output[-1].name == "lookup"


async def test_the_agents_sdks_hosted_mcp_tool_runs_on_the_service(gateway, scripted, stdio_log):
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)  # the SDK would otherwise export traces to OpenAI
    calls_weather(scripted, "Paris")
    scripted.enqueue(["It is sunny in Paris."])
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    tool = agents.HostedMCPTool(
        tool_config={"type": "mcp", "server_label": "weather", "require_approval": "never"}
    )
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        model=agents.OpenAIResponsesModel(model="scripted", openai_client=client),
        tools=[tool],
    )
    result = await agents.Runner.run(agent, "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris."
    kinds = [item.type for item in result.new_items]
    assert "tool_call_item" in kinds  # the SDK's name for the mcp_call it was given
    assert "call get_weather Paris" in requests_in(stdio_log)
    await client.close()


async def test_the_agents_sdk_approves_a_hosted_mcp_call(gateway, scripted, stdio_log):
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    calls_weather(scripted, "Rome", "call_r9")
    scripted.enqueue(["Sunny in Rome."])
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    asked = []

    def approve(request):
        asked.append(request.data.name)
        return {"approve": True}

    tool = agents.HostedMCPTool(
        tool_config={"type": "mcp", "server_label": "weather"}, on_approval_request=approve
    )
    agent = agents.Agent(
        name="weather",
        model=agents.OpenAIResponsesModel(model="scripted", openai_client=client),
        tools=[tool],
    )
    result = await agents.Runner.run(agent, "Weather in Rome?")
    assert asked == ["get_weather"]
    assert result.final_output == "Sunny in Rome."
    assert "call get_weather Rome" in requests_in(stdio_log)
    await client.close()


def test_a_tool_list_sent_back_in_the_input_is_not_listed_again(
    openai_client, scripted, http_url, http_log
):
    listed = {
        "type": "mcp_list_tools",
        "id": "mcpl_0123",
        "server_label": "remote",
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    }
    scripted.enqueue(["No need to look."])
    response = openai_client.responses.create(
        model="scripted",
        input=[{"role": "user", "content": "hi"}, listed],
        tools=[remote(http_url, require_approval="never")],
    )
    assert [i.type for i in response.output] == ["message"]
    assert requests_in(http_log) == []  # the server was not contacted at all
    assert [t.name for t in scripted.calls[-1].prompt.tools] == ["get_weather"]
