"""Errors in OpenAI's envelope with mapped statuses; the openai SDK raises its own classes."""

from __future__ import annotations

import json
import socket

import httpx
import openai
import pytest

from core import errors
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import GatewayThread

HELLO = [{"role": "user", "content": "hello"}]


def post(gateway, body: object, **kwargs) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, **kwargs)


def assert_envelope(response: httpx.Response, openapi, status: int, type_: str, param=None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    openapi.validate(body, "ErrorResponse")
    assert body["error"]["type"] == type_
    if param is not None:
        assert body["error"]["param"] == param
    return body["error"]


@pytest.mark.parametrize(
    ("error", "sdk_class", "status"),
    [
        (errors.InvalidArgumentError("bad", field="x"), openai.BadRequestError, 400),
        (errors.ModelNotFoundError("gone"), openai.NotFoundError, 404),
        (errors.UnauthenticatedError("who are you"), openai.AuthenticationError, 401),
        (errors.ResourceExhaustedError("slow down", retry_after=3), openai.RateLimitError, 429),
        (errors.BackendUnavailableError("down"), openai.InternalServerError, 503),
        (errors.ChatError("boom"), openai.InternalServerError, 500),
        (errors.ThreadBusyError("busy"), openai.ConflictError, 409),
    ],
)
def test_core_errors_raise_the_matching_openai_exception(
    openai_client, scripted, error, sdk_class, status
):
    scripted.enqueue([], error=error)
    with pytest.raises(sdk_class) as caught:
        openai_client.chat.completions.create(model="scripted", messages=HELLO)
    assert caught.value.status_code == status
    scripted.enqueue([], error=error)
    with pytest.raises(sdk_class):
        openai_client.chat.completions.create(model="scripted", messages=HELLO, stream=True)


def test_statuses_carry_retry_headers(gateway, scripted):
    scripted.enqueue([], error=errors.ResourceExhaustedError("slow", retry_after=2.4))
    limited = post(gateway, {"model": "scripted", "messages": HELLO})
    # Rounded up: a client that waits the whole seconds it is told never retries too early.
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    scripted.enqueue([], error=errors.ThreadBusyError("busy"))
    conflict = post(gateway, {"model": "scripted", "messages": HELLO})
    assert (conflict.status_code, conflict.headers["x-should-retry"]) == (409, "false")
    scripted.enqueue([], error=errors.BackendUnavailableError("down"))
    assert post(gateway, {"model": "scripted", "messages": HELLO}).headers["retry-after"] == "1"


def test_internal_errors_do_not_leak_details(gateway, scripted, openapi):
    scripted.enqueue([], error=errors.ChatError("db password is hunter2"))
    error = assert_envelope(
        post(gateway, {"model": "scripted", "messages": HELLO}), openapi, 500, "server_error"
    )
    assert "hunter2" not in error["message"]


def test_unknown_model_is_404_model_not_found(openai_client):
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="no-such-model", messages=HELLO)
    assert caught.value.code == "model_not_found"


def test_core_validation_names_the_openai_param(openai_client, scripted):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="scripted", messages=HELLO, temperature=3)
    assert caught.value.param == "temperature"
    assert scripted.calls == []


def test_error_after_the_first_chunk_is_one_error_event_without_done(
    openai_client, scripted, gateway, openapi
):
    scripted.enqueue(
        ["a", "b", "c", "d"], fail_after=2, error=errors.BackendUnavailableError("upstream died")
    )
    received: list[str | None] = []
    stream = openai_client.chat.completions.create(model="scripted", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="upstream died"):
        received.extend(c.choices[0].delta.content if c.choices else None for c in stream)
    assert received == ["", "a", "b"]

    scripted.enqueue(
        ["a", "b"], fail_after=1, error=errors.BackendUnavailableError("upstream died")
    )
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": "scripted", "messages": HELLO, "stream": True},
    ) as response:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert "[DONE]" not in events
    error = json.loads(events[-1])
    openapi.validate(error, "ErrorResponse")
    assert error["error"]["type"] == "service_unavailable_error"


def bad_json(body: object, param: str | None) -> tuple[bytes, str, int, str | None]:
    """A BAD_HTTP row: `body` as a JSON request refused with 400 naming `param`."""
    return json.dumps(body).encode(), "application/json", 400, param


BAD_HTTP = {
    "not json": (b'{"model":', "application/json", 400, None),
    "empty body": (b"", "application/json", 400, None),
    "null body": (b"null", "application/json", 400, None),
    "array body": (b"[]", "application/json", 400, None),
    "text/plain": (b'{"messages": []}', "text/plain", 415, None),
    "multipart": (b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", 415, None),
    "unknown field": bad_json({"messages": HELLO, "foo": 1}, "foo"),
    "api_base smuggled": bad_json({"messages": HELLO, "api_base": "http://x"}, "api_base"),
    "stream as string": bad_json({"messages": HELLO, "stream": "yes"}, "stream"),
    "n is 9": bad_json({"messages": HELLO, "n": 9}, "n"),
    "n is 0": bad_json({"messages": HELLO, "n": 0}, "n"),
    "top_logprobs is 21": bad_json(
        {"messages": HELLO, "logprobs": True, "top_logprobs": 21}, "top_logprobs"
    ),
    "top_logprobs without logprobs": bad_json(
        {"messages": HELLO, "top_logprobs": 2}, "top_logprobs"
    ),
    "n is a string": bad_json({"messages": HELLO, "n": "1"}, "n"),
    "NaN temperature": (
        b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
        "application/json",
        400,
        None,
    ),
    "huge integer": (
        b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + b"0" * 5000 + b"}",
        "application/json",
        400,
        None,
    ),
    "role root": bad_json({"messages": [{"role": "root", "content": "x"}]}, "messages[0].role"),
    "image part": bad_json(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x"}}
                    ],
                }
            ]
        },
        None,
    ),
    "stream_options without stream": bad_json(
        {"messages": HELLO, "stream_options": {"include_usage": True}}, "stream_options"
    ),
    "max tokens disagree": bad_json(
        {"messages": HELLO, "max_tokens": 5, "max_completion_tokens": 6}, "max_tokens"
    ),
    "logprobs as a string": bad_json({"messages": HELLO, "logprobs": "yes"}, "logprobs"),
    "thread id list": bad_json({"messages": HELLO, "thread_id": [1]}, "thread_id"),
    "deep nesting": (
        b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "application/json",
        400,
        None,
    ),
}


@pytest.mark.parametrize("case", BAD_HTTP, ids=list(BAD_HTTP))
def test_bad_http_requests_are_refused_in_the_envelope(gateway, scripted, openapi, case):
    body, content_type, status, param = BAD_HTTP[case]
    response = httpx.post(
        gateway.url + "/v1/chat/completions", content=body, headers={"content-type": content_type}
    )
    error = assert_envelope(response, openapi, status, "invalid_request_error", param)
    assert error["message"]
    assert scripted.calls == []


def test_oversized_body_is_413_before_reading_it(gateway, scripted, openapi):
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (2 * 1024 * 1024) + b'"}]}'
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=big,
        headers={"content-type": "application/json"},
    )
    assert_envelope(response, openapi, 413, "invalid_request_error")


def test_unknown_routes_and_methods_use_the_envelope_too(gateway, openapi):
    assert_envelope(httpx.get(gateway.url + "/v1/nope"), openapi, 404, "not_found_error")
    assert_envelope(
        httpx.get(gateway.url + "/v1/chat/completions"), openapi, 405, "invalid_request_error"
    )


def _gateway(**settings) -> GatewayThread:
    return GatewayThread(create_app(Settings(auth="disabled", **settings)))


def _no_grpc_text(response: httpx.Response) -> None:
    text = response.text.lower()
    for leak in ("grpc", "authorization", "ipv4", "metadata", "rst_stream", " vs. "):
        assert leak not in text, response.text


def test_a_request_over_grpcs_message_limit_is_413_not_429(core_server, openapi):
    server = _gateway(core_target=core_server.target, max_body_bytes=8 * 1024 * 1024)
    try:
        big = [{"role": "user", "content": "x" * 5_000_000}]  # over the core's 4 MiB
        response = post(server, {"model": "scripted", "messages": big}, timeout=30)
    finally:
        server.stop()
    error = assert_envelope(response, openapi, 413, "invalid_request_error")
    assert error["code"] == "request_too_large" and "retry-after" not in response.headers
    _no_grpc_text(response)


def test_headers_over_grpcs_metadata_limit_are_431_not_429(core_server, openapi):
    server = _gateway(core_target=core_server.target)
    try:
        headers = {"authorization": "Bearer " + "k" * 24_000}  # the gateway's head limit: 32 KiB
        response = post(server, {"model": "scripted", "messages": HELLO}, headers=headers)
    finally:
        server.stop()
    error = assert_envelope(response, openapi, 431, "invalid_request_error")
    assert error["code"] == "request_header_fields_too_large"
    _no_grpc_text(response)


def test_an_unreachable_core_is_503_with_retry_after_and_no_grpc_text(openapi):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{free.getsockname()[1]}"  # nothing listens there once closed
    server = _gateway(core_target=target)
    try:
        response = post(server, {"messages": HELLO}, timeout=30)
    finally:
        server.stop()
    error = assert_envelope(response, openapi, 503, "service_unavailable_error")
    assert error["code"] == "unavailable" and response.headers["retry-after"] == "1"
    _no_grpc_text(response)
