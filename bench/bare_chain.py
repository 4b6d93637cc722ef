"""The baseline: a bare FastAPI route calling a bare grpc.aio server-streaming RPC.

`python -m bench.bare_chain server --port P --tokens N` serves `bench.BareChat/StreamChat`
through a generic handler (no servicer class, no validation, no pipeline) that streams the
fixed reply one message per token, reusing the chatrpc.v1 messages so both chains pay the same
protobuf cost; `bench.BareChat/Chat` returns the same reply in one unary message.

`python -m bench.bare_chain gateway --port P --target HOST:PORT` is the naive HTTP side:
`POST /v1/chat/completions` reads the JSON body, calls the RPC and writes the OpenAI JSON, or
one SSE `chat.completion.chunk` per message with `json.dumps` — the "naive FastAPI → gRPC →
SSE chain" of DESIGN.md's performance targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bench.synthetic import DEFAULT_TOKENS, reply_tokens
from chatrpc.v1 import chat_service_pb2 as pb

SERVICE = "bench.BareChat"
STREAM_METHOD = f"/{SERVICE}/StreamChat"
UNARY_METHOD = f"/{SERVICE}/Chat"
UNARY_PREFIX = "/unary"
_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
_FINISH = {pb.FINISH_REASON_STOP: "stop", pb.FINISH_REASON_LENGTH: "length"}

# --- the gRPC side ------------------------------------------------------------------------


def stream_chat_handler(tokens: int) -> Callable[..., AsyncIterator[pb.StreamChatResponse]]:
    pieces = reply_tokens(tokens)

    async def stream_chat(
        request: pb.StreamChatRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.StreamChatResponse]:
        yield pb.StreamChatResponse(start=pb.StreamStart(id="chatcmpl-bare", model=request.model))
        for piece in pieces:
            yield pb.StreamChatResponse(delta=pb.MessageDelta(content=piece))
        yield pb.StreamChatResponse(finish=pb.StreamFinish(finish_reason=pb.FINISH_REASON_STOP))
        prompt = sum(4 + len(m.content.split()) for m in request.messages)
        usage = pb.Usage(
            prompt_tokens=prompt, completion_tokens=tokens, total_tokens=prompt + tokens
        )
        yield pb.StreamChatResponse(usage=usage)

    return stream_chat


def chat_handler(tokens: int) -> Callable[..., Awaitable[pb.ChatResponse]]:
    text = "".join(reply_tokens(tokens))

    async def chat(
        request: pb.ChatRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ChatResponse:
        prompt = sum(4 + len(m.content.split()) for m in request.messages)
        return pb.ChatResponse(
            id="chatcmpl-bare",
            model=request.model,
            message=pb.Message(role=pb.ROLE_ASSISTANT, content=text),
            finish_reason=pb.FINISH_REASON_STOP,
            usage=pb.Usage(
                prompt_tokens=prompt, completion_tokens=tokens, total_tokens=prompt + tokens
            ),
        )

    return chat


async def serve_rpc(host: str, port: int, tokens: int) -> None:
    server = grpc.aio.server()
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "StreamChat": grpc.unary_stream_rpc_method_handler(
            stream_chat_handler(tokens),
            request_deserializer=pb.StreamChatRequest.FromString,
            response_serializer=pb.StreamChatResponse.SerializeToString,
        ),
        "Chat": grpc.unary_unary_rpc_method_handler(
            chat_handler(tokens),
            request_deserializer=pb.ChatRequest.FromString,
            response_serializer=pb.ChatResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


# --- the HTTP side ------------------------------------------------------------------------


def create_app(target: str) -> FastAPI:
    """The naive gateway: one channel, json.dumps per chunk.

    `POST /v1/chat/completions` folds the streaming RPC for `stream: false` too (the chain as
    the issue states it); `POST /unary/v1/chat/completions` serves `stream: false` through the
    unary RPC instead, the stricter baseline for chatrpc, whose gateway calls the unary `Chat`.
    """
    rpc: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with grpc.aio.insecure_channel(target) as channel:
            rpc["stream"] = channel.unary_stream(
                STREAM_METHOD,
                request_serializer=pb.StreamChatRequest.SerializeToString,
                response_deserializer=pb.StreamChatResponse.FromString,
            )
            rpc["unary"] = channel.unary_unary(
                UNARY_METHOD,
                request_serializer=pb.ChatRequest.SerializeToString,
                response_deserializer=pb.ChatResponse.FromString,
            )
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        messages = [
            pb.Message(role=_ROLES[m["role"]], content=m.get("content") or "")
            for m in body["messages"]
        ]
        call = rpc["stream"](pb.StreamChatRequest(model=body["model"], messages=messages))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_sse(call, include_usage), media_type="text/event-stream")
        return JSONResponse(await _fold(call))

    @app.post(UNARY_PREFIX + "/v1/chat/completions")
    async def chat_completions_unary(request: Request) -> Response:
        body = await request.json()
        messages = [
            pb.Message(role=_ROLES[m["role"]], content=m.get("content") or "")
            for m in body["messages"]
        ]
        reply = await rpc["unary"](pb.ChatRequest(model=body["model"], messages=messages))
        message = {"role": "assistant", "content": reply.message.content}
        finish = _FINISH.get(reply.finish_reason, "stop")
        return JSONResponse(
            {
                "id": reply.id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(reply.usage),
            }
        )

    return app


async def _fold(call: AsyncIterator[pb.StreamChatResponse]) -> dict[str, Any]:
    reply: dict[str, Any] = {"object": "chat.completion", "created": int(time.time())}
    parts: list[str] = []
    finish = "stop"
    async for event in call:
        kind = event.WhichOneof("event")
        if kind == "start":
            reply["id"], reply["model"] = event.start.id, event.start.model
        elif kind == "delta":
            parts.append(event.delta.content)
        elif kind == "finish":
            finish = _FINISH.get(event.finish.finish_reason, "stop")
        elif kind == "usage":
            reply["usage"] = _usage(event.usage)
    message = {"role": "assistant", "content": "".join(parts)}
    reply["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
    return reply


async def _sse(call: grpc.aio.UnaryStreamCall[Any, Any], include_usage: bool) -> AsyncIterator[str]:
    head: dict[str, Any] = {"object": "chat.completion.chunk", "created": int(time.time())}
    try:
        async for event in call:
            kind = event.WhichOneof("event")
            if kind == "start":
                head["id"], head["model"] = event.start.id, event.start.model
                yield _chunk(head, {"role": "assistant", "content": ""})
            elif kind == "delta":
                yield _chunk(head, {"content": event.delta.content})
            elif kind == "finish":
                yield _chunk(head, {}, _FINISH.get(event.finish.finish_reason, "stop"))
            elif kind == "usage" and include_usage:
                chunk = {**head, "choices": [], "usage": _usage(event.usage)}
                yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        call.cancel()


def _chunk(head: dict[str, Any], delta: dict[str, str], finish: str | None = None) -> str:
    chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}\n\n"


def _usage(usage: pb.Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The bare FastAPI → grpc.aio chain.")
    parser.add_argument("role", choices=("server", "gateway"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="server only")
    parser.add_argument("--target", default="127.0.0.1:50051", help="gateway only")
    args = parser.parse_args(argv)
    if args.role == "server":
        asyncio.run(serve_rpc(args.host, args.port, args.tokens))
    else:
        app = create_app(args.target)
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
