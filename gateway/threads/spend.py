"""GET /v1/spend: the spend of the caller's own API key (the admin face reports any key's)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.http.context import Context
from gateway.http.responses import JsonResponse

router = APIRouter()


@router.get("/v1/spend")
async def own_spend(
    context: Context, days: Annotated[int, Query(ge=0, le=366)] = 0
) -> JsonResponse:
    """The caller's key's usage per UTC day and model, with today's and this month's totals."""
    report = await context.client.get_key_spend(days=days, **context.call)
    return JsonResponse({"object": "spend", **asdict(report)})
