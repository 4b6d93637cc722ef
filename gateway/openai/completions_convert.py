"""OpenAI's legacy text completions (POST /v1/completions, gateway/openai/completions.py) ⇄
the core's text-completion turns: the request model, the turns, the JSON and the stream.

Each prompt is one turn whose `prompt` is the raw text (no chat template; an upstream gets
`POST /completions`), with `n` choices; a list of prompts runs them one after another, their
choices numbered prompt by prompt (index = prompt * n + choice), as OpenAI numbers them. No
thread memory: a text completion is never stored. `logprobs` is OpenAI's legacy integer (how
many alternatives per token, 0-5 at OpenAI, up to the core's limit here) and answers in the
legacy shape (tokens, token_logprobs, top_logprobs, text_offset). `echo`, `suffix` and
`best_of` are served only at the values that change nothing (false, null, 1).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, cast

import orjson
from pydantic import ConfigDict, Field, StrictBool, StrictStr

import chatrpc
from gateway.http.body import StrictModel
from gateway.http.errors import RequestError
from gateway.openai.chat_encoder import JsonObject, usage_to_openai
from gateway.openai.convert import extra_params
from gateway.openai.types import Int32, Int64, Number, StreamOptions


class CompletionRequest(StrictModel):
    """POST /v1/completions. Fields beyond these go to the core as provider parameters."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    model: StrictStr = ""
    prompt: StrictStr | Annotated[list[StrictStr], Field(min_length=1, max_length=16)]
    max_tokens: Int32 | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    stop: StrictStr | list[StrictStr] | None = None
    n: Int32 | None = None
    seed: Int64 | None = None
    presence_penalty: Number | None = None
    frequency_penalty: Number | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    logprobs: Int32 | None = None
    user: StrictStr | None = None
    # Served only at the values that change nothing.
    echo: Literal[False] | None = None
    suffix: None = None
    best_of: Literal[1] | None = None


_SAMPLING = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty",
             "frequency_penalty")  # fmt: skip


def completion_turns(body: CompletionRequest) -> list[chatrpc.ChatRequest]:
    """One SDK request per prompt."""
    if body.stream_options is not None and not body.stream:
        raise RequestError(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    config: dict[str, Any] = {
        name: value for name in _SAMPLING if (value := getattr(body, name)) is not None
    }
    if body.n is not None:
        config["choice_count"] = body.n
    if body.logprobs is not None:
        config.update(logprobs=True, top_logprobs=body.logprobs)
    if body.model_extra:
        config["extra_params"] = extra_params(body.model_extra)
    for i, prompt in enumerate(prompts):
        if not prompt:
            param = "prompt" if isinstance(body.prompt, str) else f"prompt[{i}]"
            raise RequestError("A prompt must not be empty.", param=param)
    return [
        chatrpc.ChatRequest(
            messages=(),
            model=body.model,
            prompt=prompt,
            generation_config=cast(chatrpc.GenerationConfig, config),
            user=body.user or "",
        )
        for prompt in prompts
    ]


def completion_id(reply_id: str) -> str:
    return "cmpl-" + reply_id.removeprefix("chatcmpl-")


def legacy_logprobs(tokens: Sequence[chatrpc.TokenLogprob], offset: int = 0) -> JsonObject:
    """Token logprobs in the legacy completions shape; `offset` is where the text began."""
    offsets, at = [], offset
    for token in tokens:
        offsets.append(at)
        at += len(token.token)
    return {
        "tokens": [t.token for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{a.token: a.logprob for a in t.top_logprobs} for t in tokens],
        "text_offset": offsets,
    }


def completion_to_openai(replies: Sequence[chatrpc.Reply], *, logprobs: bool) -> JsonObject:
    """A `text_completion` object from the replies of each prompt, in order."""
    choices: list[JsonObject] = []
    prompt_tokens = completion_tokens = 0
    for reply in replies:
        base = len(choices)
        for choice in reply.choices:
            choices.append(
                {
                    "text": choice.message.content,
                    "index": base + choice.index,
                    "logprobs": legacy_logprobs(choice.logprobs) if logprobs else None,
                    "finish_reason": choice.finish_reason.value,
                }
            )
        prompt_tokens += reply.usage.prompt_tokens
        completion_tokens += reply.usage.completion_tokens
    usage = chatrpc.Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
    first = replies[0]
    return {
        "id": completion_id(first.id),
        "object": "text_completion",
        "created": first.created,
        "model": first.model,
        "choices": choices,
        "usage": usage_to_openai(usage),
    }


async def chained(
    streams: Sequence[AsyncGenerator[chatrpc.StreamEvent, None]], n: int
) -> AsyncGenerator[chatrpc.StreamEvent, None]:
    """The events of each prompt's stream, in turn, as one stream: the first start, choices
    renumbered (prompt * n + choice), one usage summed at the end. A stream is opened (its
    call started) only when the one before it has ended."""
    prompt_tokens = completion_tokens = 0
    for i, events in enumerate(streams):
        try:
            async for event in events:
                if isinstance(event, chatrpc.StreamStart):
                    if i == 0:
                        yield event
                elif isinstance(event, chatrpc.Usage):
                    prompt_tokens += event.prompt_tokens
                    completion_tokens += event.completion_tokens
                elif isinstance(event, chatrpc.MessageDelta | chatrpc.StreamFinish):
                    yield replace(event, choice_index=event.choice_index + i * n)
        finally:
            await events.aclose()
    yield chatrpc.Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)


class CompletionEncoder:
    """Encodes the stream's events as `text_completion` chunks (the streamed shape of
    CreateCompletionResponse: text pieces, then each choice's finish_reason; with
    stream_options.include_usage, a last chunk with usage and no choices)."""

    def __init__(self, start: chatrpc.StreamStart, *, logprobs: bool, usage: bool) -> None:
        head: JsonObject = {"id": completion_id(start.id), "object": "text_completion"}
        head |= {"created": start.created, "model": start.model}
        self._head = orjson.dumps(head)[:-1]
        self._logprobs, self._usage = logprobs, usage
        self._offsets: dict[int, int] = {}

    def _chunk(self, choice: JsonObject) -> bytes:
        return self._head + b',"choices":[' + orjson.dumps(choice) + b"]}"

    def encode(self, event: chatrpc.StreamEvent) -> bytes | None:
        if isinstance(event, chatrpc.MessageDelta):
            if not event.content and not event.logprobs:
                return None
            index = event.choice_index
            offset = self._offsets.get(index, 0)
            self._offsets[index] = offset + len(event.content)
            logprobs = legacy_logprobs(event.logprobs, offset) if self._logprobs else None
            choice = {"text": event.content, "index": index, "logprobs": logprobs}
            return self._chunk(choice | {"finish_reason": None})
        if isinstance(event, chatrpc.StreamFinish):
            choice = {"text": "", "index": event.choice_index, "logprobs": None}
            return self._chunk(choice | {"finish_reason": event.finish_reason.value})
        if isinstance(event, chatrpc.Usage) and self._usage:
            return (
                self._head + b',"choices":[],"usage":' + orjson.dumps(usage_to_openai(event)) + b"}"
            )
        return None
