"""chatrpc's own resources as one router: threads and knowledge spaces."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.threads import spaces, threads

router = APIRouter()
for _module in (spaces, threads):
    router.include_router(_module.router)
