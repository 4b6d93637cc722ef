"""OpenAI's legacy text completions toward upstreams (`POST /completions`): the body of a
text-completion turn (`Prompt.raw`), beside the chat body of core/backends/openai_wire.py (whose
chunk folder also reads a completion's legacy `logprobs`); `upstream_body` picks one of the two.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.backends.openai_wire import MAX_TOKENS_FIELDS, request_body
from core.errors import ConfigError
from core.types import GenerationParams, JsonObject, Prompt


def completion_body(
    model: str,
    prompt: Prompt,
    params: GenerationParams,
    *,
    repetition_penalty: bool,
    extra: Mapping[str, object],
    max_tokens_field: str = "",
) -> JsonObject:
    """The streamed body of `POST /completions` for a text completion (`prompt.raw`): the
    chat body's sampling fields, the raw `prompt`, and logprobs in the legacy shape (an int:
    how many alternatives per token)."""
    body = request_body(
        model,
        Prompt(messages=()),
        params,
        tools=False,
        repetition_penalty=repetition_penalty,
        extra=extra,
        max_tokens_field=max_tokens_field,
    )
    del body["messages"]
    body["prompt"] = prompt.raw
    if params.logprobs:
        body.pop("top_logprobs", None)
        body["logprobs"] = params.top_logprobs or 0
    return body


def upstream_body(
    model: str,
    prompt: Prompt,
    params: GenerationParams,
    *,
    tools: bool,
    repetition_penalty: bool,
    extra: Mapping[str, object],
    max_tokens_field: str,
) -> JsonObject:
    """The turn's body: a text completion's for `prompt.raw`, else the chat body."""
    if prompt.raw:
        return completion_body(
            model,
            prompt,
            params,
            repetition_penalty=repetition_penalty,
            extra=extra,
            max_tokens_field=max_tokens_field,
        )
    return request_body(
        model,
        prompt,
        params,
        tools=tools,
        repetition_penalty=repetition_penalty,
        extra=extra,
        max_tokens_field=max_tokens_field,
    )


def check_max_tokens_field(name: str) -> str:
    """The catalog's `max_tokens_field` option if it names a field an upstream takes."""
    if name not in ("", *MAX_TOKENS_FIELDS):
        raise ConfigError(f"openai_compat max_tokens_field must be one of {MAX_TOKENS_FIELDS}")
    return name
