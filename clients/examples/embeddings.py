"""Embeddings (`make run`): the openai SDK over HTTP, floats and base64, and the SDK over gRPC."""

from __future__ import annotations

import sys

import openai

import chatrpc

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"
TARGET = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:50051"
TEXTS = ["I love green tea.", "Green tea is my favourite drink.", "The train leaves at nine."]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # cosine: the vectors are unit length


client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="unused")  # no key configured locally
result = client.embeddings.create(
    model="smollm2-135m-instruct", input=TEXTS, encoding_format="float"
)
tea, favourite, train = (item.embedding for item in result.data)
print("dimensions:", len(tea), "prompt tokens:", result.usage.prompt_tokens)
print(f"tea~favourite {dot(tea, favourite):.3f}  tea~train {dot(tea, train):.3f}")

# Without encoding_format the SDK asks for base64 (little-endian float32) and decodes it.
again = client.embeddings.create(model="smollm2-135m-instruct", input=TEXTS[0])
print("base64 round trip:", f"{dot(again.data[0].embedding, tea):.4f}")

try:
    client.embeddings.create(model="smollm2-135m-instruct", input=TEXTS[0], dimensions=64)
except openai.BadRequestError as exc:
    print("rejected:", exc.param)

with chatrpc.Client(TARGET) as sdk:
    vectors = sdk.embed(TEXTS[:2], model="smollm2-135m-instruct")
    print("grpc:", vectors.model, len(vectors.embeddings), "vectors")
