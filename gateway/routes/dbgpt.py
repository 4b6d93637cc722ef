"""POST /api/v2/chat/completions: DB-GPT's chat API (string messages, chat modes, conv_uid)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.body import read_json_body
from gateway.convert import ReplyShape, dbgpt_request, parse_model
from gateway.openai_types import DbgptChatRequest
from gateway.turns import answer_turn

router = APIRouter()


@router.post("/api/v2/chat/completions", response_model=None)
async def dbgpt_chat_completion(request: Request) -> Response:
    """One turn in DB-GPT's shapes: `chat.completion` JSON, or `delta.content` chunks then
    `[DONE]`; errors use the same JSON envelope as /v1 (never `[SERVER_ERROR]` text)."""
    body = parse_model(await read_json_body(request), DbgptChatRequest)
    # No usage chunk: DB-GPT clients read choices[0] of every chunk, and its chunk model
    # refuses "usage": null. Reasoning only when asked: DB-GPT clients show every delta's text.
    shape = ReplyShape(reasoning=bool(body.include_reasoning))
    return await answer_turn(request, dbgpt_request(body), stream=body.stream, shape=shape)
