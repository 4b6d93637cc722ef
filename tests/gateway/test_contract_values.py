"""No input makes a 500: every integer and string field of the HTTP request models, given
values out of any contract range and of the wrong type, gets a 400 naming it; credentials gRPC
cannot carry get a 401; tagged unions with a non-string `type` get a 400. The fields are walked
from the models' own JSON schemas, not listed here. Real gateway and core on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import BaseModel

from gateway.dbgpt.types import DbgptChatRequest
from gateway.openai.responses_types import CreateResponseRequest
from gateway.openai.types import ChatCompletionRequest, EmbeddingRequest
from gateway.threads.spaces import DocumentRequest, SpaceRequest
from tests.conftest import EMBEDDED

HI = [{"role": "user", "content": "hi"}]
# Each route with its model and a minimal body the gateway serves.
ROUTES: list[tuple[str, type[BaseModel], dict[str, Any]]] = [
    ("/v1/chat/completions", ChatCompletionRequest, {"model": "scripted", "messages": HI}),
    ("/v1/responses", CreateResponseRequest, {"model": "scripted", "input": "hi"}),
    ("/v1/embeddings", EmbeddingRequest, {"model": EMBEDDED, "input": "hi"}),
    ("/api/v2/chat/completions", DbgptChatRequest, {"model": "scripted", "messages": "hi"}),
    ("/v1/spaces", SpaceRequest, {"id": "s1"}),
    ("/v1/spaces/s1/documents", DocumentRequest, {"source": "a.txt", "text": "x"}),
]
# Beyond every integer the contract has (int64, uint64 at most); 32-bit values too large for an
# int32 field are checked by the hypothesis test below on the token counts, which are int32.
TOO_BIG = (2**64, -(2**63) - 1, 10**30)
NOT_INTEGERS = ("12x", {"a": 1}, 1.5)
NOT_STRINGS = (12, {"a": 1}, True)
# Valid JSON text ("\ud800"), not valid Unicode: refused when the body is decoded, before any
# field is read (400 for the body, without a param).
LONE_SURROGATE = "\ud800"
# The core names the contract's field; the Responses API calls it otherwise.
ALIASES = {"max_output_tokens": "max_tokens"}


def json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property's schema admits (through anyOf/oneOf)."""
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for part in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= json_types(part)
    return found


def bad_values() -> list[tuple[str, type[BaseModel], dict[str, Any], str, object]]:
    cases = []
    for path, model, body in ROUTES:
        for name, prop in model.model_json_schema()["properties"].items():
            kinds = json_types(prop)
            values: list[object] = []
            # A number field carries 2**64; a string one takes an integer as its text.
            if "integer" in kinds and not kinds & {"number", "string"}:
                values += [*TOO_BIG, *NOT_INTEGERS]
            if "string" in kinds:
                values.append(LONE_SURROGATE)
                values += [v for v in NOT_STRINGS if not kinds & {"integer", "number", "boolean"}]
            cases += [(path, model, body, name, value) for value in values]
    return cases


def post(url: str, body: dict[str, Any], **headers: Any) -> httpx.Response:
    # ensure_ascii keeps a lone surrogate as the escape "\ud800" (JSON allows it).
    text = json.dumps(body, ensure_ascii=True)
    return httpx.post(
        url, content=text, headers={"content-type": "application/json", **headers}, timeout=30
    )


def test_the_walk_covers_integer_and_string_fields() -> None:
    fields = {(path, name) for path, _, _, name, _ in bad_values()}
    for expected in [
        ("/v1/responses", "max_output_tokens"),
        ("/v1/embeddings", "dimensions"),
        ("/v1/chat/completions", "seed"),
        ("/v1/chat/completions", "user"),
    ]:
        assert expected in fields


def test_out_of_range_and_wrong_type_values_are_400_naming_the_field(gateway) -> None:
    failures = []
    for path, _, body, name, value in bad_values():
        response = post(gateway.url + path, {**body, name: value})
        error = response.json().get("error", {}) if response.status_code == 400 else {}
        param = str(error.get("param") or "")
        named = value == LONE_SURROGATE or param.startswith((name, ALIASES.get(name, name)))
        if response.status_code != 400 or not named:
            failures.append((path, name, repr(value)[:40], response.status_code, param))
    assert failures == [], "\n".join(map(str, failures))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(["/v1/chat/completions", "/v1/responses"]),
    tokens=st.one_of(st.integers(min_value=2**31), st.integers(max_value=-(2**63) - 1)),
)
def test_any_token_count_beyond_the_contract_is_a_400(gateway, route: str, tokens: int) -> None:
    name = "max_tokens" if route == "/v1/chat/completions" else "max_output_tokens"
    body = {"model": "scripted", "messages": HI} if "chat" in route else {"input": "hi"}
    response = post(gateway.url + route, {**body, "model": "scripted", name: tokens})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("kind", [{"x": 1}, ["message"], 3, None])
def test_an_input_item_whose_type_is_not_a_string_is_a_400(gateway, kind: object) -> None:
    item = {"type": kind, "role": "user", "content": "hi"}
    response = post(gateway.url + "/v1/responses", {"model": "scripted", "input": [item]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith("input[0]")


# (DEL and other control bytes never reach the gateway: the HTTP parser answers 400 itself.)
@pytest.mark.parametrize("key", [b"Bearer sk-a\tb", b"Bearer sk-\xc3\xa9t\xc3\xa9"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"])
def test_a_key_grpc_cannot_carry_is_a_401(gateway, key: bytes, path: str) -> None:
    body = {"model": "scripted", "messages": HI, "input": "hi"}
    if path != "/v1/chat/completions":
        body.pop("messages")
    if path == "/v1/chat/completions":
        body.pop("input")
    response = post(gateway.url + path, body, authorization=key)
    assert response.status_code == 401, response.text
