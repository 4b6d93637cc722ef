"""The baseline: a bare FastAPI route → one grpc.aio call → SSE, with nothing else.

`python -m bench.bare_chain server --port P` serves `bench.BareChat`: `StreamChat` streams the
fixed reply of `bench.reply` (a start message, the deltas, a finish and a usage message) and
`Chat` returns it in one unary message. No servicer class, no validation, no memory, no upstream
client. The request's `pack` says how many ready deltas one message carries: 1 (one message
per token) or up to 8 (the text of up to 8 ready tokens in one delta). `bench-model-paced` is
paced like the mock upstream (one token per tick of a global 10 ms grid; a message carries the
tokens that are due, up to `pack`).

`python -m bench.bare_chain gateway --port P --target HOST:PORT` is the HTTP side, one route per
variant: `POST /v1/chat/completions` (1 delta per message) and `POST /pack8/v1/chat/completions`
(up to 8). Each reads the JSON body, makes one gRPC call and writes the OpenAI JSON
(`stream: false`, through the unary `Chat`) or one SSE `chat.completion.chunk` per message with
`json.dumps`.

The messages mirror chatrpc.v1's shapes (same fields, same wire cost) but are defined here,
from a descriptor built at import, so that the bare chain never depends on the service's
generated code.
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
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from bench.reply import DEFAULT_PACE, DEFAULT_TOKENS, TickGrid, is_paced, reply_tokens

SERVICE = "bench.BareChat"
STREAM_METHOD = f"/{SERVICE}/StreamChat"
UNARY_METHOD = f"/{SERVICE}/Chat"
PACKED_PREFIX = "/pack8"
PACKED = 8
_FINISH = {1: "stop", 2: "length"}

# --- the messages -------------------------------------------------------------------------

_T = descriptor_pb2.FieldDescriptorProto
_FIELDS: dict[str, list[tuple[str, int, int, str, int | None]]] = {
    # name, number, type, type_name (messages), oneof index
    "Message": [("role", 1, _T.TYPE_INT32, "", None), ("content", 2, _T.TYPE_STRING, "", None)],
    "ChatRequest": [
        ("model", 1, _T.TYPE_STRING, "", None),
        ("messages", 2, _T.TYPE_MESSAGE, ".bench.Message", None),
        ("max_tokens", 3, _T.TYPE_INT32, "", None),
        ("pack", 4, _T.TYPE_INT32, "", None),
    ],
    "Usage": [
        ("prompt_tokens", 1, _T.TYPE_INT32, "", None),
        ("completion_tokens", 2, _T.TYPE_INT32, "", None),
        ("total_tokens", 3, _T.TYPE_INT32, "", None),
    ],
    "ChatResponse": [
        ("id", 1, _T.TYPE_STRING, "", None),
        ("model", 2, _T.TYPE_STRING, "", None),
        ("message", 3, _T.TYPE_MESSAGE, ".bench.Message", None),
        ("finish_reason", 4, _T.TYPE_INT32, "", None),
        ("usage", 5, _T.TYPE_MESSAGE, ".bench.Usage", None),
    ],
    "StreamStart": [("id", 1, _T.TYPE_STRING, "", None), ("model", 2, _T.TYPE_STRING, "", None)],
    "MessageDelta": [("content", 1, _T.TYPE_STRING, "", None)],
    "StreamFinish": [("finish_reason", 1, _T.TYPE_INT32, "", None)],
    "StreamChatResponse": [
        ("start", 1, _T.TYPE_MESSAGE, ".bench.StreamStart", 0),
        ("delta", 2, _T.TYPE_MESSAGE, ".bench.MessageDelta", 0),
        ("finish", 3, _T.TYPE_MESSAGE, ".bench.StreamFinish", 0),
        ("usage", 4, _T.TYPE_MESSAGE, ".bench.Usage", 0),
    ],
}


def _message_classes() -> dict[str, Any]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="bench/bare_chain.proto", package="bench", syntax="proto3"
    )
    for name, fields in _FIELDS.items():
        message = proto.message_type.add(name=name)
        if any(f[4] is not None for f in fields):
            message.oneof_decl.add(name="event")
        for field_name, number, kind, type_name, oneof in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = _T.LABEL_REPEATED if field_name == "messages" else _T.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
            if oneof is not None:
                field.oneof_index = oneof
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"bench.{name}"))
        for name in _FIELDS
    }


pb = argparse.Namespace(**_message_classes())
_ROLES = {"system": 1, "user": 2, "assistant": 3, "tool": 4}

# --- the gRPC side ------------------------------------------------------------------------


def _prompt_tokens(request: Any) -> int:
    return sum(4 + len(m.content.split()) for m in request.messages)


def _limit(request: Any, tokens: int) -> int:
    return min(request.max_tokens, tokens) if request.max_tokens > 0 else tokens


def stream_chat_handler(tokens: int, grid: TickGrid) -> Callable[..., AsyncIterator[Any]]:
    pieces = reply_tokens(tokens)

    async def stream_chat(request: Any, context: grpc.aio.ServicerContext[Any, Any]):
        limit = _limit(request, tokens)
        pack = max(1, request.pack)
        yield pb.StreamChatResponse(start=pb.StreamStart(id="chatcmpl-bare", model=request.model))
        if is_paced(request.model):
            first, sent = grid.first_due(), 0
            while sent < limit:
                due = min(limit, grid.index() - first + 1)
                if due <= sent:
                    await grid.next_tick()
                    continue
                for i in range(sent, due, pack):
                    text = "".join(pieces[i : min(i + pack, due)])
                    yield pb.StreamChatResponse(delta=pb.MessageDelta(content=text))
                sent = due
        elif pack == 1:
            for piece in pieces[:limit]:
                yield pb.StreamChatResponse(delta=pb.MessageDelta(content=piece))
        else:
            for i in range(0, limit, pack):
                text = "".join(pieces[i : min(i + pack, limit)])
                yield pb.StreamChatResponse(delta=pb.MessageDelta(content=text))
        finish = 1 if limit == tokens else 2
        yield pb.StreamChatResponse(finish=pb.StreamFinish(finish_reason=finish))
        prompt = _prompt_tokens(request)
        usage = pb.Usage(prompt_tokens=prompt, completion_tokens=limit, total_tokens=prompt + limit)
        yield pb.StreamChatResponse(usage=usage)

    return stream_chat


def chat_handler(tokens: int) -> Callable[..., Awaitable[Any]]:
    pieces = reply_tokens(tokens)

    async def chat(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        limit = _limit(request, tokens)
        prompt = _prompt_tokens(request)
        return pb.ChatResponse(
            id="chatcmpl-bare",
            model=request.model,
            message=pb.Message(role=_ROLES["assistant"], content="".join(pieces[:limit])),
            finish_reason=1 if limit == tokens else 2,
            usage=pb.Usage(
                prompt_tokens=prompt, completion_tokens=limit, total_tokens=prompt + limit
            ),
        )

    return chat


async def serve_rpc(host: str, port: int, tokens: int, pace: float) -> None:
    server = grpc.aio.server(maximum_concurrent_rpcs=4096)
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "StreamChat": grpc.unary_stream_rpc_method_handler(
            stream_chat_handler(tokens, TickGrid(pace)),
            request_deserializer=pb.ChatRequest.FromString,
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
    """The bare gateway: one channel, the body as a dict, json.dumps per chunk."""
    rpc: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with grpc.aio.insecure_channel(target) as channel:
            rpc["stream"] = channel.unary_stream(
                STREAM_METHOD,
                request_serializer=pb.ChatRequest.SerializeToString,
                response_deserializer=pb.StreamChatResponse.FromString,
            )
            rpc["unary"] = channel.unary_unary(
                UNARY_METHOD,
                request_serializer=pb.ChatRequest.SerializeToString,
                response_deserializer=pb.ChatResponse.FromString,
            )
            yield

    app = FastAPI(lifespan=lifespan)

    async def chat_completions(request: Request, pack: int) -> Response:
        body = await request.json()
        message = pb.ChatRequest(
            model=body["model"],
            messages=[
                pb.Message(role=_ROLES.get(m["role"], 2), content=m.get("content") or "")
                for m in body["messages"]
            ],
            max_tokens=body.get("max_tokens") or 0,
            pack=pack,
        )
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            call = rpc["stream"](message)
            return StreamingResponse(_sse(call, include_usage), media_type="text/event-stream")
        reply = await rpc["unary"](message)
        return JSONResponse(
            {
                "id": reply.id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.message.content},
                        "finish_reason": _FINISH.get(reply.finish_reason, "stop"),
                    }
                ],
                "usage": _usage(reply.usage),
            }
        )

    @app.post("/v1/chat/completions")
    async def one_delta_per_message(request: Request) -> Response:
        return await chat_completions(request, 1)

    @app.post(PACKED_PREFIX + "/v1/chat/completions")
    async def packed_deltas(request: Request) -> Response:
        return await chat_completions(request, PACKED)

    return app


async def _sse(call: grpc.aio.UnaryStreamCall[Any, Any], include_usage: bool) -> AsyncIterator[str]:
    head: dict[str, Any] = {"object": "chat.completion.chunk", "created": int(time.time())}
    try:
        async for event in call:
            kind = event.WhichOneof("event")
            if kind == "delta":
                yield _chunk(head, {"content": event.delta.content})
            elif kind == "start":
                head["id"], head["model"] = event.start.id, event.start.model
                yield _chunk(head, {"role": "assistant", "content": ""})
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


def _usage(usage: Any) -> dict[str, int]:
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
    parser.add_argument("--pace-ms", type=float, default=DEFAULT_PACE * 1e3, help="server only")
    parser.add_argument("--target", default="127.0.0.1:50051", help="gateway only")
    args = parser.parse_args(argv)
    if args.role == "server":
        asyncio.run(serve_rpc(args.host, args.port, args.tokens, args.pace_ms / 1e3))
    else:
        app = create_app(args.target)
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
