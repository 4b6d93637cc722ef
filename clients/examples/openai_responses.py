"""The openai SDK's Responses API against the gateway (`make run`): a conversation continued
by previous_response_id, a stream, the stored input items, retrieval."""

from __future__ import annotations

import sys

import openai

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"
MODEL = sys.argv[2] if len(sys.argv) > 2 else "smollm2-135m-instruct"
client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="unused")  # no key configured locally

first = client.responses.create(
    model=MODEL,
    input="My name is Lin. Say hello.",
    instructions="Answer briefly.",
    max_output_tokens=32,
)
print(first.id, first.output_text)

second = client.responses.create(
    model=MODEL, input="What is my name?", previous_response_id=first.id, max_output_tokens=32
)
print(second.output_text)

with client.responses.stream(  # the SDK's helper: it requires `model`
    model=MODEL,
    input="Tell me about green tea.",
    previous_response_id=second.id,
    max_output_tokens=48,
) as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
        elif event.type in ("response.completed", "response.incomplete"):
            print("\n", event.type, event.response.usage)

items = client.responses.input_items.list(second.id)
print("input of the second turn:", [item.content[0].text for item in items.data])
print("continues the first:", client.responses.retrieve(second.id).previous_response_id == first.id)
print("its thread:", second.model_extra["thread_id"])
