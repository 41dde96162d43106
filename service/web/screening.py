"""POST /screening: the contract's report for a posted Bundle, from the same engine as the hook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.errors import BundleError
from service.json_response import JsonResponse, error_responses
from service.request_body import JSON_CONTENT_TYPES, BodyLimits, is_json, read_capped
from service.screening.screen import Screener

# Screening windows reach years back from `on` and ages forward: a date near year 1 or 9999 overflows them, and no
# screening is ever run for such a date.
EARLIEST_ON = dt.date(1900, 1, 1)
LATEST_ON = dt.date(2999, 12, 31)


def create_router(
    screener: Screener, body_limits: BodyLimits, authenticate: Callable[[str | None], Awaitable[None]] | None
) -> APIRouter:
    """`authenticate` checks the Authorization header before the body (PHI) is read; None: open (demo only)."""
    router = APIRouter(tags=["Screening"])

    @router.post(
        "/screening",
        summary="Screen one patient Bundle against every trial",
        responses=error_responses(400, 401, 408, 413),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "A FHIR R4 Bundle holding one Patient and that patient's resources",
                "content": {
                    media: {"schema": {"type": "object", "required": ["resourceType"]}} for media in JSON_CONTENT_TYPES
                },
            }
        },
    )
    async def post_screening(
        request: Request,
        on: Annotated[
            dt.date | None, Query(ge=EARLIEST_ON, le=LATEST_ON, description="Evaluation date (default: today)")
        ] = None,
        trial: Annotated[str | None, Query(description="Only this trial, by its id")] = None,
    ) -> JsonResponse:
        if authenticate is not None:
            await authenticate(request.headers.get("authorization"))
        if not is_json(request):
            raise BundleError("Content-Type must be application/json or application/fhir+json")
        body = await read_capped(request, body_limits)
        # parsing a body of up to the size limit is CPU work too: all of it off the event loop
        return JsonResponse(await run_in_threadpool(_screen_body, body, on, trial))

    def _screen_body(body: bytes, on: dt.date | None, trial: str | None) -> dict[str, Any]:
        try:
            bundle = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BundleError("the body is not valid JSON") from exc
        if not isinstance(bundle, dict):
            raise BundleError("the body must be a FHIR Bundle object")
        if trial is not None and not screener.select(trial):
            raise BundleError(f"unknown trial id {trial!r}")
        return screener.screen_json(record_from_bundle(bundle), on=on, trial_id=trial)

    return router
