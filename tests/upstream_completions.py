"""The fake upstream's `POST /v1/completions` (tests/upstream.py): OpenAI's legacy text
completions, checked as OpenAI checks them and answered from the same `Scenario` chunks as a
chat request (each chunk's `delta.content` becomes a `text`; the finish reason and usage stay).
"""

from __future__ import annotations

import json
from typing import Any

_FIELDS = frozenset(
    {
        "model", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
        "stream", "stream_options", "logprobs", "echo", "stop", "presence_penalty",
        "frequency_penalty", "best_of", "logit_bias", "seed", "suffix", "user",
    }
)  # fmt: skip


def completion_problem(body: Any) -> tuple[str, str | None] | None:
    """(message, param) for the first reason OpenAI would refuse `body`, or None."""
    if not isinstance(body, dict):
        return "Invalid value for 'body': expected a JSON object.", "body"
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return f"Unrecognized request argument supplied: {unknown[0]}", None
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter", "model"
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        return "Invalid value for 'prompt'.", "prompt"
    logprobs = body.get("logprobs")
    if logprobs is not None and not (type(logprobs) is int and 0 <= logprobs <= 5):
        return "Invalid value for 'logprobs': expected an integer from 0 to 5.", "logprobs"
    return None


def completion_chunk(model: str, chat_chunk: dict[str, Any]) -> dict[str, Any]:
    """A chat chunk of the scenario as a text_completion chunk."""
    choice = chat_chunk["choices"][0]
    text = (choice.get("delta") or {}).get("content") or ""
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"text": text, "index": 0, "logprobs": None, "finish_reason": choice["finish_reason"]}
        ],
    }


def completion_events(
    model: str, chunks: tuple[dict[str, Any], ...], usage: dict[str, int] | None
) -> bytes:
    """The whole SSE body of a streamed completion: the chunks, usage if given, [DONE]."""
    events = [completion_chunk(model, c) for c in chunks]
    if usage:
        events.append({"id": "cmpl-fake", "object": "text_completion", "created": 1700000000,
                       "model": model, "choices": [], "usage": usage})  # fmt: skip
    body = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)
    return body + b"data: [DONE]\n\n"


def completion_answer(
    model: str, chunks: tuple[dict[str, Any], ...], usage: dict[str, int] | None
) -> dict[str, Any]:
    """The chunks folded into one text_completion (for a request with `stream` false)."""
    text, finish = "", "stop"
    for chunk in chunks:
        choice = completion_chunk(model, chunk)["choices"][0]
        text += choice["text"]
        finish = choice["finish_reason"] or finish
    answer = completion_chunk(model, {"choices": [{"delta": {}, "finish_reason": finish}]})
    answer["choices"][0]["text"] = text
    return answer | ({"usage": usage} if usage else {})
