"""POST /api/v2/chat/completions: DB-GPT's chat API (string messages, chat modes, conv_uid)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.dbgpt.convert import dbgpt_request
from gateway.dbgpt.types import DbgptChatRequest
from gateway.http.context import Context
from gateway.http.turns import run_turn
from gateway.openai.chat_encoder import ChatEncoder, ReplyShape

router = APIRouter()


@router.post("/api/v2/chat/completions", response_model=None)
async def dbgpt_chat_completion(context: Context) -> Response:
    """One turn in DB-GPT's shapes: `chat.completion` JSON, or `delta.content` chunks then
    `[DONE]`; errors use the same JSON envelope as /v1 (never `[SERVER_ERROR]` text)."""
    body = await context.body(DbgptChatRequest)
    # No usage chunk: DB-GPT clients read choices[0] of every chunk, and its chunk model
    # refuses "usage": null. Reasoning only when asked: DB-GPT clients show every delta's text.
    encoder = ChatEncoder(ReplyShape(reasoning=bool(body.include_reasoning)))
    return await run_turn(context, dbgpt_request(body), encoder, stream=body.stream)
