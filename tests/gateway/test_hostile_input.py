"""Hostile input over HTTP gets a 400 naming what is wrong, never a 500: integers beyond the
contract's fields, deeply nested schemas, empty thread ids, ReDoS-shaped or invalid JSON-Schema
patterns; and a non-stream client that hangs up is not an ERROR in the gateway's log."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

HI = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
DBGPT = "/api/v2/chat/completions"


def post(gateway, path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=10)


def nested_body(depth: int, where: str) -> bytes:
    """A chat request whose tool parameters (or response_format schema) nest `depth` objects
    deep, written out as text (the json module would recurse that deep)."""
    schema = '{"type":"object","properties":{"x":' * depth + '{"type":"string"}' + "}}" * depth
    if where == "tools":
        extra = f'"tools":[{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}]'
    else:
        fmt = f'{{"type":"json_schema","json_schema":{{"name":"s","schema":{schema}}}}}'
        extra = f'"response_format":{fmt}'
    return f'{{"model":"scripted","messages":[{{"role":"user","content":"hi"}}],{extra}}}'.encode()


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        (CHAT, "seed", 2**63),
        (CHAT, "seed", -(2**63) - 1),
        (CHAT, "max_tokens", 2**31),
        (CHAT, "max_completion_tokens", 2**31),
        (CHAT, "max_completion_tokens", 10**30),
        (CHAT, "n", 2**31),
        (CHAT, "top_logprobs", 2**40),
        (DBGPT, "max_new_tokens", 2**31),
        (DBGPT, "max_tokens", 2**40),
    ],
)
def test_integers_beyond_the_contracts_fields_are_400_naming_the_field(gateway, path, field, value):
    response = post(gateway, path, {"model": "scripted", "messages": HI, field: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert field in error["message"]


def test_the_largest_seed_the_contract_holds_is_served(gateway):
    response = post(gateway, CHAT, {"model": "scripted", "messages": HI, "seed": 2**63 - 1})
    assert response.status_code == 200


@pytest.mark.parametrize("where", ["tools", "response_format"])
@pytest.mark.parametrize("depth", [5, 20, 40, 200, 5_000])
def test_deeply_nested_schemas_are_400_not_500(gateway, scripted, where, depth):
    response = httpx.post(
        gateway.url + CHAT,
        content=nested_body(depth, where),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if depth < 100:  # deeper, the JSON parser itself refuses (param null)
        assert error["param"].startswith(where)
        assert "nested deeper" in error["message"]
    assert scripted.calls == []


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (CHAT, {"thread_id": ""}, "thread_id"),
        (DBGPT, {"conv_uid": ""}, "conv_uid"),
    ],
)
def test_an_empty_thread_id_is_400_not_a_turn_without_a_thread(gateway, path, body, param):
    response = post(gateway, path, {"model": "scripted", "messages": HI, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_an_empty_thread_header_is_400(gateway):
    response = post(gateway, CHAT, {"model": "scripted", "messages": HI}, **{"X-Thread-Id": ""})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Thread-Id"


def tool_with(schema: dict) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": schema}}


REDOS = ["(a+)+$", "^(\\w+\\s?)*$", "(?:x*){2,}y", "((ab)+c?)+"]


@pytest.mark.parametrize("pattern", [*REDOS, "(unclosed", "[z-a]", "x" * 600])
def test_bad_patterns_in_tools_are_400_before_the_upstream(gateway, scripted, pattern):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    body = {"model": "scripted", "messages": HI, "tools": [tool_with(schema)]}
    response = post(gateway, CHAT, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "tools[0].function.parameters"
    assert "pattern" in error["message"]
    assert scripted.calls == []


@pytest.mark.parametrize("pattern", REDOS[:2])
def test_bad_patterns_in_response_format_and_pattern_properties_are_400(gateway, pattern):
    schema = {"type": "object", "patternProperties": {pattern: {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    response = post(gateway, CHAT, {"model": "scripted", "messages": HI, "response_format": fmt})
    assert response.status_code == 400, response.text
    assert "pattern" in response.json()["error"]["message"]


@pytest.mark.parametrize("pattern", ["^[a-z]+$", "^\\d{3}-\\d{4}$", "(ab)+", "(a|b)?c*", "[(+)]+"])
def test_ordinary_patterns_pass(gateway, pattern):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    body = {"model": "scripted", "messages": HI, "tools": [tool_with(schema)]}
    assert post(gateway, CHAT, body).status_code == 200


async def test_a_non_stream_client_that_hangs_up_is_not_an_error_in_the_log(
    gateway, scripted, caplog
):
    scripted.enqueue(["a"] * 50, delay=0.05)
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(CHAT, json={"model": "scripted", "messages": HI})
    for _ in range(100):  # until the core saw the cancel
        if scripted.calls and scripted.calls[0].closed_at is not None:
            break
        await asyncio.sleep(0.02)
    assert scripted.calls[0].produced < 50  # generation stopped
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.mark.parametrize("path", [CHAT, DBGPT, "/v1/responses", "/v1/embeddings"])
def test_a_body_of_thousands_of_items_is_refused_by_its_shape(gateway, scripted, path):
    field = {"/v1/responses": "input", "/v1/embeddings": "input"}.get(path, "messages")
    items = (
        ["x"] * 33_000 if path == "/v1/embeddings" else [{"role": "user", "content": ""}] * 33_000
    )
    response = post(gateway, path, {"model": "scripted", field: items})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and "at most 4096" in error["message"]
    assert scripted.calls == []


def test_a_body_of_too_many_nested_values_is_refused(gateway, scripted):
    values = "[" + ",".join(["[]"] * 120_000) + "]"
    body = f'{{"model":"scripted","messages":{{"a":{values}}}}}'.encode()
    response = httpx.post(
        gateway.url + CHAT, content=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == 400, response.text
    assert "more than 100000 JSON values" in response.json()["error"]["message"]
    assert scripted.calls == []
