"""DB-GPT's face as one router."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.dbgpt import chat

router = APIRouter()
router.include_router(chat.router)
