"""The audit trail for tools: `/audit/cards` (filtered, paginated JSON), one card, and the CSV export.

Guarded by the audit token as a bearer token (or an audit session); without a configured token every request is
refused. Nothing about a patient is logged here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse

from service.audit.store import AuditError
from service.json_response import error_responses
from service.web.audit_filters import Filters, api_filters
from service.web.audit_schemas import CardDetailOut, CardPageOut, card_detail_out, card_out
from service.web.deps import AuditWebDep, api_auth, load_card, store_failure

PAGE_SIZE: Final = 50
_MAX_LIMIT: Final = 200
_CSV_CHUNK: Final = 64 * 1024
router = APIRouter(tags=["Audit"], dependencies=[Depends(api_auth)], responses=error_responses(400, 401, 503))
ApiFilters = Annotated[Filters, Depends(api_filters)]


@router.get("/audit/cards", summary="List audited cards, newest first", response_model=CardPageOut)
def list_cards(
    web: AuditWebDep,
    filters: ApiFilters,
    limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT, description="Page size")] = PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=512, pattern="^[A-Za-z0-9_-]+$", description="nextCursor of the previous page")
    ] = None,
) -> CardPageOut:
    try:
        page = web.store.list_cards(filters.flt, limit=limit, cursor=cursor or None)
    except AuditError as exc:
        raise store_failure(exc, html=False) from exc
    return CardPageOut(items=[card_out(c) for c in page.items], next_cursor=page.next_cursor)


@router.get(
    "/audit/cards.csv",
    summary="Export the filtered audit trail as CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per card"}},
)
def export_csv(web: AuditWebDep, filters: ApiFilters) -> StreamingResponse:
    lines = web.store.export_csv(filters.flt)
    try:
        header = next(lines)  # runs the query now: a database failure is an error, not a cut stream
    except AuditError as exc:
        raise store_failure(exc, html=False) from exc
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _stream(header, lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-cards-{stamp}.csv"'},
    )


@router.get(
    "/audit/cards/{card_uuid}",
    summary="One audited card with its feedback and screening report",
    response_model=CardDetailOut,
    responses=error_responses(404),
)
def get_card(web: AuditWebDep, card_uuid: str) -> CardDetailOut:
    return card_detail_out(load_card(web.store, card_uuid, html=False))


async def _stream(header: str, lines: Iterator[str]) -> AsyncIterator[str]:
    """The CSV body in chunks of about 64 KiB; the database cursor is closed even if the client leaves."""

    def chunks() -> Generator[str, None, None]:
        buffer: list[str] = []
        size = 0
        for line in lines:
            buffer.append(line)
            size += len(line)
            if size >= _CSV_CHUNK:
                yield "".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer)

    source = chunks()
    try:
        yield header
        async for chunk in iterate_in_threadpool(source):
            yield chunk
    finally:
        await run_in_threadpool(source.close)
        close = getattr(lines, "close", None)
        if close is not None:
            await run_in_threadpool(close)
