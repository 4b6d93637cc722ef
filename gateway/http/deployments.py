"""GET /v1/deployments: each routed model's upstream deployments and their breakers, as the
answering core replica sees them (names only: never a URL or key). docs/routing.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.http.context import Context
from gateway.http.responses import JsonResponse

router = APIRouter()


@router.get("/v1/deployments")
async def list_deployments(context: Context) -> JsonResponse:
    """One entry per deployment of every routed model, in catalog order."""
    data: list[dict[str, Any]] = [
        {
            "object": "deployment",
            "model": model.id,
            "name": d.name,
            "state": d.state,
            "in_flight": d.in_flight,
            "reopens_in": round(d.reopens_in, 3),
            "weight": d.weight,
        }
        for model in await context.client.list_models(**context.call)
        for d in model.deployments
    ]
    return JsonResponse({"object": "list", "data": data})
