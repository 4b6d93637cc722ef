"""POST /v1/embeddings: OpenAI's embeddings over the core's Embed RPC.

`input` is one string or a list of strings (token arrays are refused by name: the core embeds
text). `encoding_format` "float" answers JSON numbers; "base64" answers each vector as the
base64 of its little-endian float32 bytes, as OpenAI does (the openai SDK asks for base64
and decodes it itself when its caller gives no encoding_format). `dimensions` and every
range are the core's to check; `user` is passed on, not stored.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

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
        input_texts(body.input),
        model=body.model,
        dimensions=body.dimensions,
        user=body.user or "",
        **context.call,
    )
    note(model=result.model)  # the model label of this request's metrics and logs
    return JsonResponse(
        embeddings_to_openai(result, body.encoding_format), headers=dict(result.server_metadata)
    )


def input_texts(value: str | list[str | int | list[int]]) -> list[str]:
    """The texts of `input`; a 400 naming `input` for token arrays."""
    if isinstance(value, str):
        return [value]
    texts = [item for item in value if isinstance(item, str)]
    if len(texts) != len(value):
        raise RequestError(
            "Token arrays are not supported as 'input': send a string or a list of strings.",
            param="input",
            code="invalid_value",
        )
    return texts


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
