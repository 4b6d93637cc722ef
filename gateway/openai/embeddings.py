"""POST /v1/embeddings: OpenAI's embeddings over the core's Embed RPC.

`input` is one string or a list of strings, or token ids: one list of integers or a list of
them (LangChain's OpenAIEmbeddings sends these by default), which the core feeds to the
embedded model as they are (ids checked against its vocabulary) or passes to an upstream.
`encoding_format` "float" answers JSON numbers; "base64" answers each vector as the
base64 of its little-endian float32 bytes, as OpenAI does (the openai SDK asks for base64
and decodes it itself when its caller gives no encoding_format). `dimensions` and every
range are the core's to check; `user` is passed on, not stored.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal, cast

from fastapi import APIRouter

import chatrpc
from gateway.http.context import Context
from gateway.http.errors import RequestError
from gateway.http.responses import JsonResponse, list_to_openai
from gateway.openai.types import EmbeddingRequest
from observability.requests import note

router = APIRouter()

Encoding = Literal["float", "base64"]
JsonObject = dict[str, Any]


@router.post("/v1/embeddings")
async def create_embeddings(context: Context) -> JsonResponse:
    """One embedding vector per input text, in input order, with the inputs' token count."""
    body = await context.body(EmbeddingRequest)
    result = await context.client.embed(
        embed_inputs(body.input),
        model=body.model,
        dimensions=body.dimensions,
        user=body.user or "",
        **context.call,
    )
    note(model=result.model)  # the model label of this request's metrics and logs
    return JsonResponse(
        embeddings_to_openai(result, body.encoding_format), headers=dict(result.server_metadata)
    )


def embed_inputs(value: str | list[str | int | list[int]]) -> list[str] | list[list[int]]:
    """The texts of `input`, or its token arrays; a 400 naming `input` for a mixed list."""
    if isinstance(value, str):
        return [value]
    texts = [item for item in value if isinstance(item, str)]
    if len(texts) == len(value):
        return texts
    if all(isinstance(item, int) for item in value):
        return [cast("list[int]", value)]  # one token array
    arrays = [item for item in value if isinstance(item, list)]
    if len(arrays) != len(value):
        raise RequestError(
            "'input' must be a string, a list of strings, a list of integers or a list of "
            "lists of integers.",
            param="input",
            code="invalid_value",
        )
    return arrays


def embeddings_to_openai(result: chatrpc.Embeddings, encoding: Encoding) -> JsonObject:
    """The CreateEmbeddingResponse body."""
    data = [
        {"object": "embedding", "index": e.index, "embedding": _encode(e.values, encoding)}
        for e in result.embeddings
    ]
    tokens = result.usage.prompt_tokens
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return list_to_openai(data, model=result.model, usage=usage)


def _encode(values: tuple[float, ...], encoding: Encoding) -> list[float] | str:
    if encoding == "float":
        return list(values)
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
