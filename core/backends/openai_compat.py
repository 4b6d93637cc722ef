"""OpenAICompatBackend: an upstream OpenAI-compatible `/v1/chat/completions` (and
`/v1/completions` for text completions; `/v1/embeddings`, one request per Embed call).

One turn is one upstream call (no retries: the core's router, core/routing, makes further
attempts), always streamed with `stream_options.include_usage`. Requests carry only the fields
`openai_wire.request_body` allows; the URL, key, headers, timeouts and upstream model name
come from the catalog options alone, typed once as an UpstreamConfig
(core/backends/upstream_config.py). The reply's SSE bytes are decoded here, one network read
at a time: whatever arrived together travels on as one chunk. The last chunk carries the
upstream's usage or, when none came (llama-cpp-python's server ignores `stream_options`),
`count_tokens`' estimate for the prompt and one completion token per streamed delta. A stream
that ends without a finish reason is BackendUnavailableError.

Errors are mapped once, here:

    upstream                                        domain error
    429 (retry-after, retry-after-ms, HTTP date)    ResourceExhaustedError(retry_after=…)
    401 / 403 (the server's own key)                BackendUnavailableError
    408, timeouts                                   BackendTimeoutError
    other 4xx                                       BackendError, generic message + status
    5xx (retry-after kept), connection failures,    BackendUnavailableError(retry_after=…)
    failures mid-stream
    (an error event, invalid JSON, a dropped connection)

The upstream's own text (which may hold keys, URLs or paths) is logged at WARNING with the
key redacted and never reaches a client. Closing the stream (aclose or cancellation) closes
the upstream HTTP response, which aborts generation on servers that watch for disconnects.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from functools import partial
from typing import Any, ClassVar

import aiohttp
import orjson

from core import deadlines
from core.backends.base import EmbedInputs
from core.backends.openai_legacy import check_max_tokens_field, upstream_body
from core.backends.openai_wire import (
    OWNED_FIELDS,
    ChunkFolder,
    SseSplitter,
    embeddings_body,
    embeddings_from_openai,
    estimate_tokens,
)
from core.backends.upstream_config import (
    UpstreamConfig,
    flag_option,
    text_option,
    upstream_config,
)
from core.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ChatError,
    ConfigError,
    ResourceExhaustedError,
)
from core.types import (
    BackendChunk,
    EmbeddingBatch,
    GenerationParams,
    JsonObject,
    Prompt,
    Usage,
)
from observability import metrics
from observability.requests import current
from observability.tracing import trace_headers

logger = logging.getLogger(__name__)

OPTIONS = frozenset(
    {
        "base_url", "api_key", "upstream_model", "timeout", "default_headers", "supports_tools",
        "repetition_penalty", "extra", "idle_timeout", "max_tokens_field",
    }
)  # fmt: skip
_REJECTED = {400: "invalid request", 404: "unknown model or route", 413: "request too large"}
_SAFE_CODES = frozenset(
    {
        "context_length_exceeded", "model_not_found", "unsupported_parameter", "content_filter",
        "content_policy_violation", "data_inspection_failed",
    }
)  # fmt: skip
_MAX_RETRY_AFTER = 3600.0
_MAX_ERROR_BODY = 65_536  # bytes of an error response read to find its code
_DONE = b"[DONE]"
_MAX_CONNECTIONS = 256  # per upstream; kept alive between turns (no handshake per turn)
_KEEPALIVE = 30.0


class OpenAICompatBackend:
    """Streams replies from an OpenAI-compatible upstream.

    `config` holds where and how to reach the upstream (base URL, key and headers, timeouts).
    Each turn is one streamed `POST /chat/completions` on
    an aiohttp connection pool, whose response bytes are decoded here as they arrive: one
    network read, however many SSE events it holds, becomes one BackendChunk (orjson, a dict
    per event, no pydantic model per chunk). The backend owns its pool and closes it in
    `aclose`. `supports_tools=False` leaves tools out of requests (the catalog pairs
    such a model with a text tool-call format); `repetition_penalty=True` says the upstream
    accepts that field (vLLM, LightLLM); `extra` holds operator-configured body fields sent
    with every request; `max_tokens_field` names the output cap's field (empty: the caller's).
    """

    kind: ClassVar[str] = "openai_compat"
    supports_tools: ClassVar[bool] = True

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        upstream_model: str,
        supports_tools: bool = True,
        repetition_penalty: bool = False,
        extra: Mapping[str, object] | None = None,
        max_tokens_field: str = "",
    ) -> None:
        _check_settings(upstream_model, extra or {})
        self._config = config
        self._model = upstream_model
        self._body = partial(  # the turn's JSON body, from the prompt and its params
            upstream_body, upstream_model, tools=supports_tools, extra=dict(extra or {}),
            repetition_penalty=repetition_penalty,
            max_tokens_field=check_max_tokens_field(max_tokens_field),
        )  # fmt: skip
        self._upstream = config.host
        self._urls = (config.url("chat/completions"), config.url("completions"))  # [raw]
        self._embeddings_url = config.url("embeddings")
        self._models_url = config.url("models")
        self._headers = dict(config.headers)
        # idle_timeout (the router's, per model): the most seconds between two reads
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=config.timeout, sock_read=config.idle_timeout or config.timeout
        )
        self._proxy = _env_proxy(self._urls[0])
        self._session: aiohttp.ClientSession | None = None
        # The Protocol declares the capability per class; an upstream without native tool
        # calling is configured per instance, so the instance shadows the class default.
        vars(self)["supports_tools"] = supports_tools

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> OpenAICompatBackend:
        """Builds the backend from catalog options (the catalog has resolved the key's env var)."""
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigError(f"unknown openai_compat options {unknown}; known: {sorted(OPTIONS)}")
        extra = options.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise ConfigError("openai_compat option extra must be a mapping")
        model = text_option(options, "upstream_model")
        tools = flag_option(options, "supports_tools", True)
        repetition_penalty = flag_option(options, "repetition_penalty", False)
        _check_settings(model, extra)
        return cls(
            upstream_config(options),
            upstream_model=model,
            supports_tools=tools,
            repetition_penalty=repetition_penalty,
            extra=extra,
            max_tokens_field=text_option(options, "max_tokens_field"),
        )

    async def count_tokens(self, prompt: Prompt) -> int:
        """An estimate (no tokenizer here): see `openai_wire.estimate_tokens`."""
        return estimate_tokens(prompt, tools=self.supports_tools)

    async def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]:
        """One upstream request, counted (and its failure by kind) under the turn's model,
        carrying the turn's trace context (`traceparent`)."""
        fields = current()
        model = fields.model if fields is not None else ""
        metrics.child(metrics.UPSTREAM_REQUESTS, model).inc()
        body = self._body(prompt, params)  # chat, or a text completion (prompt.raw)
        try:
            response = await self._post(self._urls[bool(prompt.raw)], body)
            folder, complete = ChunkFolder(), False
            try:
                if response.status >= 400:
                    raise await self._status_failure(response)
                async for chunks in self._events(response):
                    try:
                        folded = folder.fold(chunks)
                    except (ValueError, TypeError, AttributeError):  # JSON, not a chunk's shape
                        raise self._failure("invalid", "a chunk of the wrong shape") from None
                    for chunk in folded:
                        yield chunk
                complete = True
            finally:
                if complete:
                    response.release()  # read to its end: the connection goes back to the pool
                else:
                    response.close()  # closing the connection aborts generation upstream
            if folder.finish is None:
                logger.warning(
                    "Upstream %s ended its stream without a finish reason", self._upstream
                )
                raise BackendUnavailableError(
                    "The upstream model's stream ended before the reply finished.",
                    backend=self.kind,
                )
        except ChatError as exc:
            metrics.child(metrics.UPSTREAM_ERRORS, model, exc.reason.lower()).inc()
            raise
        usage = folder.usage or Usage(await self.count_tokens(prompt), folder.deltas)
        yield BackendChunk(finish_reason=folder.finish, usage=usage)

    async def _post(self, url: str, body: JsonObject) -> aiohttp.ClientResponse:
        """One POST to the upstream with our key, the trace context, the proxy and the call's
        time left; transport failures mapped."""
        try:
            return await self._pool().post(
                url,
                data=orjson.dumps(body),
                headers={**self._headers, **trace_headers()},
                proxy=self._proxy,
                timeout=self._request_timeout(),
            )
        except TimeoutError:
            raise self._failure("timeout", "no answer in time") from None
        except aiohttp.ClientError as exc:
            raise self._failure("unreachable", type(exc).__name__) from None

    async def probe(self) -> bool:
        """Whether `GET {base_url}/models` answers 2xx (the router's optional health check,
        bounded by its caller: it sends no prompt, so a paid API charges nothing)."""
        try:
            async with self._pool().get(
                self._models_url, headers=self._headers, proxy=self._proxy
            ) as response:
                return response.status < 300
        except aiohttp.ClientError:
            return False

    async def embed(self, texts: EmbedInputs, dimensions: int | None) -> EmbeddingBatch:
        """One `POST /embeddings` for all the texts; the vectors are passed through as sent
        (after a shape check), errors mapped as a turn's are."""
        response = await self._post(
            self._embeddings_url, embeddings_body(self._model, texts, dimensions)
        )
        async with response:  # released (or closed, on failure) on the way out
            if response.status >= 400:
                raise await self._status_failure(response)
            try:
                raw = await response.read()
            except TimeoutError:
                raise self._failure("timeout", "the body stalled") from None
            except aiohttp.ClientError as exc:
                raise self._failure("dropped", type(exc).__name__) from None
        try:
            return embeddings_from_openai(orjson.loads(raw), texts, dimensions)
        except ValueError:  # not JSON (orjson's error is a ValueError), or not its shape
            raise self._failure("invalid_body", "an embeddings body of the wrong shape") from None

    def _request_timeout(self) -> aiohttp.ClientTimeout:
        """The pool's timeouts, and the call's remaining time as the whole request's."""
        left = deadlines.remaining()
        if left is None:
            return self._timeout
        pool = self._timeout
        return aiohttp.ClientTimeout(
            total=left, sock_connect=pool.sock_connect, sock_read=pool.sock_read
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _pool(self) -> aiohttp.ClientSession:
        """The connection pool, made on the event loop that first streams (aiohttp's rule)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE)
            # The proxy is looked up once (_env_proxy), not per request: aiohttp's trust_env
            # reads the environment and ~/.netrc in a worker thread on every request.
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[list[Any], None]:
        """The decoded chunks of each network read, until `[DONE]` and the end of the body.

        The body is read to its end after `[DONE]` (it ends right there) so the connection
        goes back to the pool instead of being closed.
        """
        splitter, done = SseSplitter(), False
        reads = response.content.iter_any()
        while True:
            try:
                data = await anext(reads)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise self._failure("timeout", "the stream stalled") from None
            except aiohttp.ClientError as exc:
                raise self._failure("dropped", type(exc).__name__) from None
            if done:
                continue
            chunks, failure = [], None
            for payload in splitter.feed(data):
                if payload == _DONE:
                    done = True
                    break
                try:
                    chunk = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    failure = self._failure("invalid", "a data line is not JSON")
                    break
                if isinstance(chunk, dict) and "error" in chunk:  # vLLM's mid-stream error
                    detail = self._redact(payload.decode(errors="replace"))
                    failure = self._failure("error_event", detail)
                    break
                chunks.append(chunk)
            if chunks:
                yield chunks  # what came before a failure is delivered first
            if failure is not None:
                raise failure

    async def _status_failure(self, response: aiohttp.ClientResponse) -> ChatError:
        """The domain error for an error status; the upstream's own text is only logged."""
        try:
            raw = await response.content.read(_MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        code: object = None
        try:
            error = orjson.loads(raw).get("error")
            code = error.get("code") if isinstance(error, dict) else None
        except (orjson.JSONDecodeError, AttributeError):
            pass
        logger.warning(
            "Upstream %s failed: HTTP %d: %.500s",
            self._upstream,
            response.status,
            self._redact(raw.decode(errors="replace")),
        )
        return status_error(response.status, response.headers, code, {"backend": self.kind})

    def _failure(self, what: str, detail: str) -> ChatError:
        """The domain error for a transport or stream failure (logged, never forwarded)."""
        logger.warning("Upstream %s failed: %s: %.500s", self._upstream, what, detail)
        meta = {"backend": self.kind}
        if what == "timeout":
            return BackendTimeoutError("The upstream model did not answer in time.", **meta)
        messages = {
            "unreachable": "The upstream model cannot be reached.",
            "dropped": "The upstream connection broke mid-reply.",
            "invalid": "The upstream model sent an invalid stream.",
            "invalid_body": "The upstream model sent an invalid answer.",
            "error_event": "The upstream model failed while generating.",
        }
        return BackendUnavailableError(messages[what], retry_after=None, **meta)

    def _redact(self, text: str) -> str:
        key = self._config.api_key
        return text.replace(key, "[redacted]") if len(key) >= 8 else text  # short: placeholders


def status_error(
    status: int, headers: Mapping[str, str], code: object, meta: dict[str, str]
) -> ChatError:
    """The domain error for an upstream HTTP error status (see the module docstring)."""
    meta["upstream_status"] = str(status)
    if status == 429:
        return ResourceExhaustedError(
            "The upstream model is rate limited; retry later.",
            retry_after=retry_after_seconds(headers),
            **meta,
        )
    if status in (401, 403):  # the operator's key: never an authentication error for our caller
        return BackendUnavailableError(
            "The upstream model rejected this server's credentials.", retry_after=None, **meta
        )
    if status == 408:
        return BackendTimeoutError("The upstream model did not answer in time.", **meta)
    if not 400 <= status < 500:  # a 503's Retry-After reaches the client (and the router)
        return BackendUnavailableError(
            f"The upstream model is unavailable (HTTP {status}).",
            retry_after=retry_after_seconds(headers),
            **meta,
        )
    reason = _REJECTED.get(status, "invalid parameters")
    if isinstance(code, str) and code in _SAFE_CODES:  # an allowlisted word, never free text
        meta["upstream_code"] = reason = code
    return BackendError(
        f"The upstream model rejected the request (HTTP {status}: {reason}).", **meta
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return min(millis / 1000, _MAX_RETRY_AFTER)
    value = (headers.get("retry-after") or "").strip()
    seconds = _seconds(value)
    if seconds is None and value:
        try:
            seconds = max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None if seconds is None else min(seconds, _MAX_RETRY_AFTER)


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP(S)_PROXY, NO_PROXY), as httpx would."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _check_settings(upstream_model: str, extra: Mapping[str, object]) -> None:
    if not upstream_model:
        raise ConfigError("openai_compat needs the upstream_model option")
    shadowed = sorted(OWNED_FIELDS.intersection(extra))
    if shadowed:
        raise ConfigError(f"openai_compat extra may not set {', '.join(shadowed)}")


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
