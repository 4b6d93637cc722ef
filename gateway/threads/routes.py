"""chatrpc's own resources as one router: threads (and their data: search, export,
erasure), knowledge spaces and a key's own spend."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.threads import data, spaces, spend, threads

router = APIRouter()
for _module in (spaces, threads, data, spend):
    router.include_router(_module.router)
