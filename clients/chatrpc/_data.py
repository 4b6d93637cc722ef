"""What the SDK adds for a caller's thread data and spend: the Erasure and SpendReport types,
their converters and the UnaryCall of each RPC (beside _base.Calls, which is for turns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatrpc import _types as t
from chatrpc._base import UnaryCall, thread_from_pb
from chatrpc._contract import check_map, new
from chatrpc.v1 import admin_service_pb2 as apb, chat_service_pb2 as pb


@dataclass(frozen=True, slots=True)
class Erasure:
    """What `erase_data()` did: its audit entry's id, when (unix seconds) and rows deleted per
    kind ("threads", "turns", "messages", "knowledge_documents", …)."""

    erasure_id: str
    created: float
    deleted: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SpendReport:
    """A key's spend: rows (day, model, prompt_tokens, completion_tokens, cost_usd) and the
    totals of today and this month (UTC)."""

    rows: tuple[Mapping[str, Any], ...] = ()
    tokens_today: int = 0
    tokens_this_month: int = 0
    usd_today: float = 0.0
    usd_this_month: float = 0.0


def erasure_from_pb(response: pb.EraseDataResponse) -> Erasure:
    return Erasure(
        erasure_id=response.erasure_id,
        created=response.create_time.ToNanoseconds() / 1e9,
        deleted=dict(response.deleted),
    )


def spend_from_pb(message: apb.GetSpendResponse) -> SpendReport:
    rows = tuple(
        {
            "day": r.day,
            "model": r.model,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "cost_usd": r.cost_usd,
        }
        for r in message.rows
    )
    return SpendReport(
        rows=rows,
        tokens_today=message.tokens_today,
        tokens_this_month=message.tokens_this_month,
        usd_today=message.usd_today,
        usd_this_month=message.usd_this_month,
    )


ERASE_SCOPES = {"owner": pb.ERASE_SCOPE_OWNER, "user": pb.ERASE_SCOPE_USER}


def export_request(thread_id: str | int) -> pb.ExportThreadsRequest:
    return new(pb.ExportThreadsRequest, thread_id=str(thread_id))


def page_from_pb(response: pb.ListThreadsResponse) -> t.ThreadPage:
    threads = tuple(thread_from_pb(thread) for thread in response.threads)
    return t.ThreadPage(threads, response.next_page_token, response.total_count)


class DataCalls:
    """The UnaryCall of each thread-data and spend RPC, by the client method that makes it."""

    @staticmethod
    def list_threads(
        page_size: int, page_token: str, user: str = "", metadata: Mapping[str, str] | None = None
    ) -> UnaryCall[t.ThreadPage]:
        check_map(metadata or {}, "metadata")
        request = new(
            pb.ListThreadsRequest,
            page_size=page_size,
            page_token=page_token,
            user=user,
            metadata=metadata or {},
        )
        return UnaryCall("ListThreads", request, page_from_pb)

    @staticmethod
    def update_thread(thread_id: str | int, metadata: Mapping[str, str]) -> UnaryCall[t.Thread]:
        check_map(metadata, "metadata")
        request = new(pb.UpdateThreadRequest, thread_id=str(thread_id), metadata=metadata)
        return UnaryCall("UpdateThread", request, lambda r: thread_from_pb(r.thread))

    @staticmethod
    def get_key_spend(days: int) -> UnaryCall[SpendReport]:
        return UnaryCall("GetKeySpend", new(pb.GetKeySpendRequest, days=days), spend_from_pb)

    @staticmethod
    def erase_data(scope: str, user: str) -> UnaryCall[Erasure]:
        if scope not in ERASE_SCOPES:
            raise ValueError("scope must be 'owner' or 'user'")
        request = new(pb.EraseDataRequest, scope=ERASE_SCOPES[scope], user=user)
        return UnaryCall("EraseData", request, erasure_from_pb)
