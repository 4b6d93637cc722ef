"""POST /v1/chat/completions: OpenAI chat completions, JSON or SSE, over the core's RPCs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.body import read_json_body
from gateway.convert import ReplyShape, chat_request, parse_request
from gateway.turns import answer_turn

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(request: Request) -> Response:
    """Creates a model response for the conversation; `stream: true` answers with SSE."""
    body = parse_request(await read_json_body(request))
    turn = chat_request(body, request.headers.get("x-thread-id"))
    return await answer_turn(request, turn, stream=body.stream, shape=ReplyShape.of(body))
