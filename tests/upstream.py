"""FakeUpstream: an OpenAI-compatible `/v1/chat/completions` on 127.0.0.1:0 that refuses what
hosted upstreams refuse.

A raw ASGI app (so a test controls every byte, down to dropping the connection) under a real
uvicorn on its own thread (tests/servers.py's UvicornThread, as the gateway's). It records every
request it receives (method, path, headers, JSON body, and the status it answered) and, in the
"endless" mode, when the client went away.

It is configured at construction with the API keys it accepts and the model names it serves,
each with its limits (`ModelLimits`; `PUBLISHED` holds real models' published values, so
`models={"qwen-flash": None}` enforces DashScope's). Before any scenario runs, a request is
checked in the order hosted APIs check it, and refused in OpenAI's error envelope
(`{"error": {"message", "type", "param", "code"}}`):

    401  no `Authorization: Bearer <key>`, or a key not accepted     (code invalid_api_key)
    400  a body that is not JSON, or not a valid chat request         (param names the field)
    404  an unknown `model`                                           (code model_not_found)
    400  `max_tokens` on a reasoning model (`ModelLimits.reasoning`)   (unsupported_parameter)
    400  `max_tokens` / `max_completion_tokens` above the output cap  (param names the field)
    400  a prompt over the input limit or the context window          (context_length_exceeded)

Accepted requests get `scenario` (`Scenario.mode`). A `json_schema` response format with
`"strict": true` is answered with a JSON instance of its schema (structured outputs); without
`strict` the scripted text comes back, best effort, as a model that was not constrained:

    normal       role chunk, `Scenario.chunks`, usage chunk (if asked and scripted), [DONE];
                 a request with `stream` false gets those chunks folded into one chat.completion
    status       `Scenario.status` with `Scenario.body` and `Scenario.headers`, no stream
    garbage      one good chunk, then a `data:` line that is not JSON
    error_event  two chunks, then `data: {"error": …}` (vLLM's mid-stream error shape)
    drop         two chunks, then the connection is cut mid-body
    no_done      two text chunks, then a clean end of body: no finish, no [DONE]
    endless      a text chunk every `Scenario.interval` seconds until the client disconnects

`POST /v1/embeddings` serves the `embedding_models` (`EmbeddingModel`: dimension, whether
`dimensions` may shorten it, input limit) after the same key check, refusing what OpenAI
refuses (a missing or empty `input`, more than 2048 inputs, an input over the model's tokens,
unknown fields, an `encoding_format` other than float/base64, `dimensions` out of range or on
a model that cannot shorten). Its vectors are `fake_embedding(text, …)`: unit length, a
function of the text, shortened and normalised again as text-embedding-3 does; "status"
and "garbage" (a body that is not JSON) apply to it too.

`streamed_tool_call` scripts a native tool call the way hosted upstreams stream it: id, type
and name on the first delta only, the arguments split over several later deltas.
`reasoning_chunk` scripts a thinking delta as DashScope's Qwen models (and vLLM before it
renamed the field) stream it: `reasoning_content` text beside `"content": null`; the
answer's chunks that follow carry `"reasoning_content": null`. `with_logprobs` adds OpenAI's
`logprobs.content` to a chunk. `logprobs` and `top_logprobs` are checked as OpenAI checks
them (a boolean; 0-20, and only with logprobs true).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import math
import random
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from core.catalog import ModelCatalog
from tests.servers import UvicornThread, upstream_model, with_models
from tests.upstream_completions import completion_answer, completion_events, completion_problem

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CANARY = "sk-canary-123"
INTERNAL_URL = "http://10.1.2.3:8001/internal/admin?token=abc"
MODEL = "upstream-model"


@dataclass(frozen=True)
class ModelLimits:
    """What an upstream model accepts, in tokens (None: not enforced)."""

    max_output_tokens: int | None
    context_window: int | None = None
    max_input_tokens: int | None = None
    # OpenAI's reasoning models (o-series, gpt-5): `max_tokens` is refused, only
    # `max_completion_tokens` is taken.
    reasoning: bool = False


# Published limits of real hosted models. DashScope's qwen-flash: 1,000,000 tokens of
# context, at most 997,952 of input and 32,768 of output (Model Studio's model list).
QWEN_FLASH = ModelLimits(
    max_output_tokens=32_768, context_window=1_000_000, max_input_tokens=997_952
)
PUBLISHED: dict[str, ModelLimits] = {"qwen-flash": QWEN_FLASH}

ModelsArg = Mapping[str, "int | ModelLimits | None"] | Iterable[str]


@dataclass(frozen=True)
class EmbeddingModel:
    """An upstream embedding model: its vectors' length, whether a request's `dimensions` may
    shorten them, and the most tokens an input may have (OpenAI's text-embedding-3: 8192)."""

    dimensions: int
    shortening: bool = True
    max_input_tokens: int = 8192


def fake_embedding(text: str, dimensions: int, shortened_to: int | None = None) -> list[float]:
    """The fake's vector for `text`: unit length, seeded by the text (as float32 values)."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)][:shortened_to]
    norm = math.sqrt(sum(v * v for v in vector))
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vector]


def text_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk whose delta is `text`."""
    return _chunk({"content": text}, finish)


def tool_chunk(
    index: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
) -> dict[str, Any]:
    """A chunk carrying one native tool-call delta (id and name only when given)."""
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        call.update(id=id, type="function")
    if name is not None:
        call["function"]["name"] = name
    return _chunk({"tool_calls": [call]})


def streamed_tool_call(
    index: int, id: str, name: str, arguments: str, pieces: int = 3
) -> list[dict[str, Any]]:
    """One native call as OpenAI streams it: id + name with empty arguments, then the
    arguments in `pieces` deltas that carry neither id nor name."""
    if not 1 <= pieces <= len(arguments):
        raise ValueError(f"cannot split {arguments!r} into {pieces} pieces")
    cuts = [round(i * len(arguments) / pieces) for i in range(pieces + 1)]
    parts = [arguments[a:b] for a, b in itertools.pairwise(cuts)]
    first = tool_chunk(index, id=id, name=name, arguments="")
    return [first, *(tool_chunk(index, arguments=part) for part in parts)]


def reasoning_chunk(text: str) -> dict[str, Any]:
    """A thinking delta as DashScope streams it (`content` null beside `reasoning_content`)."""
    return _chunk({"content": None, "reasoning_content": text})


def answer_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    """An answer delta of a thinking model, as DashScope streams it after the reasoning."""
    return _chunk({"content": text, "reasoning_content": None}, finish)


def with_logprobs(chunk: dict[str, Any], *tokens: tuple[str, float]) -> dict[str, Any]:
    """`chunk` with OpenAI's `logprobs.content` for `tokens` ((text, logprob) pairs), each
    with itself and one less likely alternative as its top_logprobs."""
    content = []
    for token, logprob in tokens:
        raw = list(token.encode("utf-8"))
        top = [
            {"token": token, "logprob": logprob, "bytes": raw},
            {"token": "~", "logprob": logprob - 1.5, "bytes": [126]},
        ]
        content.append({"token": token, "logprob": logprob, "bytes": raw, "top_logprobs": top})
    choice = chunk["choices"][0] | {"logprobs": {"content": content, "refusal": None}}
    return chunk | {"choices": [choice]}


def finish_chunk(reason: str) -> dict[str, Any]:
    return _chunk({}, reason)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [choice],
    }


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


DEFAULT_CHUNKS = (text_chunk("Hello"), text_chunk(", world"), finish_chunk("stop"))
DEFAULT_USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
ERROR_BODY = {
    "error": {
        "message": f"invalid key {CANARY} while calling {INTERNAL_URL} in /srv/app/secret.py",
        "type": "invalid_request_error",
        "code": "leak_" + CANARY,
    }
}


@dataclass
class Scenario:
    """What the next accepted requests get."""

    mode: str = "normal"
    chunks: tuple[dict[str, Any], ...] = DEFAULT_CHUNKS
    usage: dict[str, int] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: dict(ERROR_BODY))
    interval: float = 0.01


@dataclass
class Recorded:
    """One request as the upstream received it (header names lower-cased) and its status."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None  # set once the fake has decided; 200 for every stream


class Dropped(Exception):
    """Raised inside the app to make uvicorn cut the connection mid-body."""


@dataclass(frozen=True)
class Refusal:
    """An HTTP error in OpenAI's envelope."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    type: str = "invalid_request_error"

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.type, "param": self.param}
        return json.dumps({"error": error | {"code": self.code}}).encode()


class FakeUpstream:
    """The fake upstream server; `url` is its base URL (ending in /v1).

    Args:
        keys: the API keys it accepts as `Authorization: Bearer <key>`.
        models: the model names it serves: a mapping to each one's output cap (an int, which
            keeps the other published limits of a `PUBLISHED` name), its `ModelLimits`, or
            None (its published limits); or just names (published limits, else no cap).
    """

    def __init__(
        self,
        *,
        keys: Iterable[str],
        models: ModelsArg,
        embedding_models: Mapping[str, EmbeddingModel] | None = None,
    ) -> None:
        self.keys = frozenset(keys)
        if not self.keys or not all(self.keys):
            raise ValueError("a FakeUpstream needs at least one non-empty key")
        pairs = models.items() if isinstance(models, Mapping) else ((m, None) for m in models)
        self.models = {name: _limits(name, value) for name, value in pairs}
        self.embedding_models = dict(embedding_models or {})
        self.scenario = Scenario()
        self.requests: list[Recorded] = []
        self.disconnects: list[float] = []  # time.monotonic() when a streaming client left
        self.disconnected = threading.Event()
        self._server = UvicornThread(self, log_config=None, log_level="critical", lifespan="off")
        self.url = self._server.url + "/v1"

    def reset(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.requests.clear()
        self.disconnects.clear()
        self.disconnected.clear()

    def stop(self) -> None:
        self._server.stop()

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw) if raw else None
            parsed = True
        except ValueError:
            body, parsed = raw.decode("latin-1"), False
        record = Recorded(scope["method"], scope["path"], headers, body)
        self.requests.append(record)
        refusal = self._route(record) or self._authorize(headers)
        if refusal is None and record.path.endswith("/models"):
            record.status = 200
            await _respond(send, 200, json.dumps(self._model_list()).encode())
            return
        if refusal is None and record.path.endswith("/embeddings"):
            await self._embed(record, body if parsed else None, send)
            return
        if not parsed:
            refusal = refusal or _NOT_JSON
        elif record.path.endswith("/v1/completions"):  # legacy text completions
            problem = completion_problem(body)
            refusal = refusal or (Refusal(400, *problem) if problem else None)
        else:
            refusal = refusal or _check_chat_request(body)
        refusal = refusal or self._check_limits(body)
        if refusal is not None:
            record.status = refusal.status
            await _respond(send, refusal.status, refusal.body())
            return
        await self._answer(record, body, receive, send)

    def _route(self, record: Recorded) -> Refusal | None:
        route = (record.method, record.path.removeprefix("/v1"))
        served = {("POST", "/chat/completions"), ("POST", "/completions"), ("POST", "/embeddings")}
        if route in served | {("GET", "/models")}:
            return None
        return Refusal(404, f"Invalid URL ({record.method} {record.path})")

    def _authorize(self, headers: Mapping[str, str]) -> Refusal | None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return Refusal(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if key.strip() not in self.keys:
            shown = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 7 else "***"
            return Refusal(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        return None

    def _check_limits(self, body: dict[str, Any]) -> Refusal | None:
        model = body["model"]
        limits = self.models.get(model)
        if limits is None:
            return Refusal(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        if limits.reasoning and "max_tokens" in body:
            return Refusal(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                param="max_tokens",
                code="unsupported_parameter",
            )
        for name in ("max_tokens", "max_completion_tokens"):
            asked = body.get(name)
            cap = limits.max_output_tokens
            if asked is not None and cap is not None and asked > cap:
                return Refusal(
                    400,
                    f"{name} is too large: {asked}. This model supports at most {cap} "
                    f"completion tokens, whereas you provided {asked}.",
                    param=name,
                    code="invalid_value",
                )
        prompt = _input_tokens_at_least(body)
        output = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        too_long = limits.max_input_tokens is not None and prompt > limits.max_input_tokens
        if limits.context_window is not None and prompt + output > limits.context_window:
            too_long = True
        if too_long:
            return Refusal(
                400,
                f"This model's maximum context length is {limits.context_window} tokens.",
                param="messages",
                code="context_length_exceeded",
            )
        return None

    async def _embed(self, record: Recorded, body: Any, send: Send) -> None:
        refusal = _NOT_JSON if body is None else _check_embeddings(body, self.embedding_models)
        mode, answer = self.scenario.mode, b""
        if refusal is None and mode == "status":
            refusal = Refusal(self.scenario.status, "scripted failure", type="server_error")
        if refusal is not None:
            record.status = refusal.status
            await _respond(send, refusal.status, refusal.body())
            return
        if mode == "garbage":
            answer = b'{"object": "list", "data": ['
        else:
            answer = json.dumps(_embeddings_answer(body, self.embedding_models)).encode()
        record.status = 200
        await _respond(send, 200, answer)

    def _model_list(self) -> dict[str, Any]:
        data = [
            {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for name in self.models
        ]
        return {"object": "list", "data": data}

    async def _answer(
        self, record: Recorded, body: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        scenario = self.scenario
        if scenario.mode == "status":
            record.status = scenario.status
            extra = list(scenario.headers.items())
            await _respond(send, scenario.status, json.dumps(scenario.body).encode(), extra)
            return
        record.status = 200
        if "prompt" in body:  # a text completion, from the same scripted chunks
            chunks, model = scenario.chunks, body["model"]
            if body.get("stream"):
                asked = (body.get("stream_options") or {}).get("include_usage")
                events = completion_events(model, chunks, scenario.usage if asked else None)
                await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
                await send({"type": "http.response.body", "body": events})
            else:
                answer = completion_answer(model, chunks, scenario.usage)
                await _respond(send, 200, json.dumps(answer).encode())
            return
        schema = _strict_schema(body)
        if schema is not None:  # structured outputs: the answer follows the schema
            instance = json.dumps(schema_instance(schema))
            scenario = replace(scenario, chunks=(text_chunk(instance), finish_chunk("stop")))
        if scenario.mode == "normal" and not body.get("stream"):
            await _respond(send, 200, json.dumps(_fold(scenario, body["model"])).encode())
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        await self._stream(scenario, receive, send, usage, body["model"])

    async def _stream(
        self, scenario: Scenario, receive: Receive, send: Send, usage: bool, model: str
    ) -> None:
        async def write(*payloads: dict[str, Any] | str, more: bool = True) -> None:
            named = (p if isinstance(p, str) else p | {"model": model} for p in payloads)
            body = b"".join(map(_sse, named))
            await send({"type": "http.response.body", "body": body, "more_body": more})

        role = _chunk({"role": "assistant", "content": ""})
        mode = scenario.mode
        if mode == "normal":
            tail = [_usage_chunk(scenario.usage)] if usage and scenario.usage else []
            await write(role, *scenario.chunks, *tail, "[DONE]", more=False)
        elif mode == "garbage":
            await write(role, text_chunk("Hel"), '{"id": "chatcmpl-fake", "choices": [', more=False)
        elif mode == "error_event":
            error = {"error": ERROR_BODY["error"] | {"type": "server_error"}}
            await write(role, text_chunk("Hel"), text_chunk("lo"), error, more=False)
        elif mode == "drop":
            await write(role, text_chunk("Hel"), text_chunk("lo"))
            raise Dropped("cut the connection mid-body")
        elif mode == "no_done":
            await write(role, text_chunk("Hel"), text_chunk("lo"), more=False)
        elif mode == "endless":
            await self._endless(scenario, receive, write)
        else:
            raise ValueError(f"unknown mode {mode!r}")

    async def _endless(
        self, scenario: Scenario, receive: Receive, write: Callable[..., Awaitable[None]]
    ) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnects.append(time.monotonic())
            self.disconnected.set()
            gone.set()

        watcher = asyncio.create_task(watch())
        await write(_chunk({"role": "assistant", "content": ""}))
        while not gone.is_set():
            await write(text_chunk("tick "))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), scenario.interval)
        await watcher


def _strict_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a `json_schema` response format that arrived with `"strict": true`."""
    fmt = body.get("response_format")
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    if isinstance(spec, dict) and spec.get("strict") is True:
        schema = spec.get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


def schema_instance(schema: dict[str, Any]) -> Any:
    """A small value that matches `schema` (objects, arrays, enums and the scalar types)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: schema_instance(sub) for name, sub in properties.items()}
    if kind == "array":
        return [schema_instance(schema.get("items") or {})]
    scalars = {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "null": None}
    return scalars.get(kind if isinstance(kind, str) else "", {})


def _limits(name: str, value: int | ModelLimits | None) -> ModelLimits:
    if isinstance(value, ModelLimits):
        return value
    published = PUBLISHED.get(name, ModelLimits(None))
    return published if value is None else replace(published, max_output_tokens=value)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
) -> None:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode()) for k, v in headers or ()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_NOT_JSON = Refusal(
    400,
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly.)",
)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def _check_chat_request(body: Any) -> Refusal | None:
    """The first reason `body` is not a valid chat-completions request, as OpenAI words it."""

    def bad(param: str, why: str) -> Refusal:
        return Refusal(400, f"Invalid value for '{param}': {why}", param=param)

    if not isinstance(body, dict):
        return bad("body", "expected a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return Refusal(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bad("messages", "expected a non-empty array of messages.")
    for i, message in enumerate(messages):
        refusal = _check_message(message, f"messages[{i}]")
        if refusal is not None:
            return refusal
    for name in ("stream", "parallel_tool_calls"):
        if name in body and not isinstance(body[name], bool):
            return bad(name, "expected a boolean.")
    if "stream_options" in body and body.get("stream") is not True:
        return Refusal(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    for name in ("max_tokens", "max_completion_tokens", "seed", "n"):
        value = body.get(name)
        if value is not None and (not _is_int(value) or (name != "seed" and value < 1)):
            return bad(name, "expected a positive integer.")
    for name, (low, high) in _RANGES.items():
        value = body.get(name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (number and low <= value <= high):
            return bad(name, f"expected a number between {low} and {high}.")
    if "logprobs" in body and not isinstance(body["logprobs"], bool):
        return bad("logprobs", "expected a boolean.")
    top = body.get("top_logprobs")
    if top is not None and not (_is_int(top) and 0 <= top <= 20):
        return bad("top_logprobs", "expected an integer between 0 and 20.")
    if top is not None and body.get("logprobs") is not True:
        return bad("top_logprobs", "logprobs must be true when top_logprobs is specified.")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop
    if stop is not None and not (
        isinstance(stops, list) and len(stops) <= 4 and all(isinstance(s, str) for s in stops)
    ):
        return bad("stop", "expected a string or an array of at most 4 strings.")
    return _check_tools(body)


def _check_message(message: Any, where: str) -> Refusal | None:
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        return Refusal(400, f"Invalid value for '{where}.role'.", param=f"{where}.role")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        return Refusal(400, f"Invalid type for '{where}.content'.", param=f"{where}.content")
    if content is None and not (message["role"] == "assistant" and message.get("tool_calls")):
        param = f"{where}.content"
        return Refusal(400, f"Missing required parameter: '{param}'.", param=param)
    if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
        param = f"{where}.tool_call_id"
        return Refusal(400, f"Missing required parameter: '{param}'.", param=param)
    return None


def _check_tools(body: dict[str, Any]) -> Refusal | None:
    tools = body.get("tools")
    if tools is None:
        if "tool_choice" in body:
            return Refusal(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
            )
        return None
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        for t in tools
    ):
        return Refusal(400, "Invalid value for 'tools'.", param="tools")
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("none", "auto", "required"):
        named = isinstance(choice, dict) and choice.get("type") == "function"
        names = {t["function"]["name"] for t in tools}
        if not named or (choice.get("function") or {}).get("name") not in names:
            return Refusal(400, "Invalid value for 'tool_choice'.", param="tool_choice")
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _input_tokens_at_least(body: dict[str, Any]) -> int:
    """A lower bound of the prompt's tokens: no tokenizer spends fewer than one token per
    four characters, so the fake never refuses a prompt the real upstream would take."""
    text = json.dumps(body.get("messages") or body.get("prompt"), ensure_ascii=False)
    return len(text) // 4


_EMBEDDING_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def _check_embeddings(body: Any, models: Mapping[str, EmbeddingModel]) -> Refusal | None:
    """The first reason `body` is not an embeddings request OpenAI would serve."""
    if not isinstance(body, dict):
        return Refusal(400, "Invalid value for 'body': expected a JSON object.", param="body")
    unknown = sorted(set(body) - _EMBEDDING_FIELDS)
    if unknown:
        return Refusal(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return Refusal(400, "you must provide a model parameter", param="model")
    model = models.get(body["model"])
    if model is None:
        message = f"The model `{body['model']}` does not exist or you do not have access to it."
        return Refusal(404, message, code="model_not_found")
    texts = _embedding_inputs(body.get("input"))
    if not isinstance(texts, list) or not 1 <= len(texts) <= 2048:
        return Refusal(400, "'$.input' is invalid. Please check the API reference.", "input")
    if not all(isinstance(t, str) and t for t in texts):
        return Refusal(400, "'$.input' is invalid. Please check the API reference.", "input")
    longest = max(len(t) // 4 for t in texts)  # at least this many tokens (see below)
    if longest > model.max_input_tokens:
        message = f"This model's maximum context length is {model.max_input_tokens} tokens."
        return Refusal(400, message, param="input", code="context_length_exceeded")
    if body.get("encoding_format", "float") not in ("float", "base64"):
        return Refusal(400, "Invalid value for 'encoding_format'.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and not model.shortening:
        return Refusal(400, "This model does not support specifying dimensions.", "dimensions")
    if dimensions is not None and not (_is_int(dimensions) and 1 <= dimensions <= model.dimensions):
        return Refusal(400, "Invalid value for 'dimensions'.", param="dimensions")
    return None


def _embedding_inputs(value: Any) -> Any:
    """`input` as a list of texts; a token array (ints, as OpenAI takes them) stands for the
    text of its ids joined by spaces, so its vector is `fake_embedding` of that text."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(_is_int(v) for v in value):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if not all(item and all(_is_int(i) and i >= 0 for i in item) for item in value):
            return None
        return [" ".join(map(str, item)) for item in value]
    return value


def _embeddings_answer(body: dict[str, Any], models: Mapping[str, EmbeddingModel]) -> Any:
    texts = _embedding_inputs(body["input"])
    full, dimensions = models[body["model"]].dimensions, body.get("dimensions")
    data = []
    for index, text in enumerate(texts):
        vector: list[float] | str = fake_embedding(text, full, dimensions)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(max(1, len(t) // 4) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body["model"], "usage": usage}


def _fold(scenario: Scenario, model: str) -> dict[str, Any]:
    """The scripted chunks as one chat.completion (for requests with `stream` false)."""
    content, reasoning, finish = "", "", "stop"
    calls: dict[int, dict[str, Any]] = {}
    for chunk in scenario.chunks:
        choice = chunk["choices"][0]
        delta = choice["delta"]
        content += delta.get("content") or ""
        reasoning += delta.get("reasoning_content") or ""
        for part in delta.get("tool_calls") or ():
            call = calls.setdefault(
                part["index"], {"id": "", "type": "function", "function": {"name": ""}}
            )
            call["id"] = part.get("id") or call["id"]
            function = call["function"]
            function["name"] += part["function"].get("name") or ""
            function["arguments"] = function.get("arguments", "") + part["function"]["arguments"]
        finish = choice["finish_reason"] or finish
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    reply: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if scenario.usage:
        reply["usage"] = scenario.usage
    return reply


def _usage_chunk(usage: dict[str, int]) -> dict[str, Any]:
    chunk = _chunk({})
    chunk["choices"] = []
    chunk["usage"] = usage
    return chunk


UPSTREAM_KEY = "sk-upstream-secret-0001"  # the key the shared `upstream` fixture requires
UPSTREAM_MODEL = "upstream-model"  # the model it serves


def with_upstream(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    """`catalog` plus "upstream": UPSTREAM_MODEL on `upstream`, with UPSTREAM_KEY."""
    return with_models(
        catalog, upstream_model("upstream", upstream.url, UPSTREAM_MODEL, UPSTREAM_KEY)
    )


def reset_each_test(server_fixture: str) -> Any:
    """A fixture that gives the module's `server_fixture` (a FakeUpstream started once per
    module) reset to its defaults for each test: `upstream = reset_each_test("server")`."""

    @pytest.fixture
    def upstream(request: pytest.FixtureRequest) -> FakeUpstream:
        server: FakeUpstream = request.getfixturevalue(server_fixture)
        server.reset()
        return server

    return upstream
