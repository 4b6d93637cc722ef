"""POST /v1/responses/{id}/cancel: cancels a background response (see responses_background)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.http.context import Context
from gateway.http.responses import JsonResponse
from gateway.openai.responses_background import cancel_background
from gateway.openai.responses_convert import turn_id

router = APIRouter()


@router.post("/v1/responses/{response_id}/cancel")
async def cancel_response(response_id: str, context: Context) -> JsonResponse:
    """Cancels a background response from any gateway and core replica; the response as it
    ended (`cancelled`, or as it had already ended). 404 if no background response has the id."""
    return await cancel_background(context, turn_id(response_id))
