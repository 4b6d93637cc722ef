"""POST /v1/chat/completions: OpenAI chat completions, JSON or SSE, over the core's RPCs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.http.context import Context
from gateway.http.turns import run_turn
from gateway.openai.chat_encoder import ChatEncoder
from gateway.openai.convert import chat_request
from gateway.openai.types import ChatCompletionRequest

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(context: Context) -> Response:
    """Creates a model response for the conversation; `stream: true` answers with SSE."""
    body = await context.body(ChatCompletionRequest)
    turn = chat_request(body, context.thread_header)
    return await run_turn(context, turn, ChatEncoder.of(body), stream=body.stream)
