"""GET /cds-services, POST the hook, POST feedback: each handler parses, delegates and renders."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cds_hooks.auth import HookAuthError
from cds_hooks.cards import audit_unavailable_card, card_json, ruled_out_card, warning_card
from cds_hooks.deps import INLINE_SCREENING_MAX_RESOURCES, HookServices, feedback_call, hook_call, hook_services
from cds_hooks.discovery import discovery
from cds_hooks.models import (
    CdsResponse,
    FeedbackItem,
    FeedbackRequest,
    HookRequest,
    ServiceNotFoundError,
    UnknownCardError,
)
from cds_hooks.prefetch import gather_record
from service.audit.store import AuditStore, FeedbackRecord
from service.fhir_access.record import PatientRecord
from service.json_response import JsonResponse, error_responses
from service.screening.prescreen import CardRecord, ChartOpened, Prescreening, prescreen

log = logging.getLogger("trial_screen.hooks")
AUDIT_ROOM_WAIT_SECONDS = 2.0
FEEDBACK_RETRY_SECONDS = (0.1, 0.3, 0.6)


def _body_schema(request_model: str, response_model: str | None, *errors: int) -> dict[str, Any]:
    """The bodies are read raw (to authenticate first and to word 400s ourselves); OpenAPI still shows them."""
    extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request_model}"}}},
        }
    }
    responses: dict[int | str, Any] = {str(status): answer for status, answer in error_responses(*errors).items()}
    if response_model:
        schema = {"$ref": f"#/components/schemas/{response_model}"}
        responses["200"] = {"description": "Cards", "content": {"application/json": {"schema": schema}}}
    extra["responses"] = responses
    return extra


def openapi_components() -> dict[str, Any]:
    """JSON Schemas of the CDS Hooks bodies, for the app's OpenAPI document."""
    _, schemas = models_json_schema(
        [(HookRequest, "validation"), (FeedbackRequest, "validation"), (CdsResponse, "serialization")],
        ref_template="#/components/schemas/{model}",
        by_alias=True,
    )
    defs: dict[str, Any] = schemas.get("$defs", {})
    return defs


class BareRoute(APIRoute):
    """A route documented from its endpoint's signature like any other, but called as `endpoint(request, **path
    parameters)`: none of FastAPI's per-call work (body reading, dependency solving, telemetry context) for
    endpoints that read, check and parse their requests themselves (`deps`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            response: Response = await endpoint(request, **request.path_params)
            return response

        return handle


router = APIRouter(tags=["CDS Hooks"], route_class=BareRoute)
_DISCOVERY = discovery().to_json()  # fixed for the life of the process


@router.get("/cds-services", summary="CDS Hooks discovery")
async def get_discovery(_: Request) -> JsonResponse:
    return JsonResponse(_DISCOVERY)


@router.post(
    "/cds-services/{service_id}",
    summary="Call the patient-view pre-screening service",
    openapi_extra=_body_schema("HookRequest", "CdsResponse", 400, 401, 403, 404, 408, 413, 503),
)
async def call_service(request: Request, service_id: str) -> JsonResponse:
    services = hook_services(request)
    hook = await hook_call(service_id, request, services)
    gathered = await gather_record(
        hook, services.fhir, budget_seconds=services.budget_seconds, embedded=services.embedded
    )
    cards: list[dict[str, Any]] = []  # in their JSON form: the trial cards are built so (`card_json`)
    if gathered.record is not None:
        chart = ChartOpened(
            gathered.record,
            hook.hook_instance,
            str(hook.fhir_server) if hook.fhir_server else None,
            hook.patient_view.user_id,
            gathered.unreadable,
        )
        screen = functools.partial(
            prescreen, services.screener, chart, sites=services.sites, explain_ruled_out=services.ruled_out_cards
        )
        result = await _screened(screen, chart.record, services)
        site = services.sites.site
        cards = [card_json(s, chart.record.reference, services.report_link, site(s.trial.id)) for s in result.shown]
        if result.records and not await _queue_for_audit(services.audit, result.records):
            log.error("hook answered without trial cards: the audit queue is full")
            cards = [audit_unavailable_card().to_json()]
        cards += [ruled_out_card(r, site(r.trial.id)).to_json() for r in result.ruled_out]
    if gathered.problems:
        cards.append(warning_card(list(gathered.problems)).to_json())
        log.warning("hook answered with incomplete data: %d problem(s)", len(gathered.problems))
    # what CdsResponse(cards=…).to_json() gives, without validating again; the request is freed once it is sent
    return JsonResponse({"cards": cards}, background=BackgroundTask(_hold, hook, gathered))


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Record what the clinician did with cards",
    openapi_extra=_body_schema("FeedbackRequest", None, 400, 401, 404, 408, 413, 503),
)
async def feedback(request: Request, service_id: str) -> JsonResponse:
    services = hook_services(request)
    parsed = await feedback_call(service_id, request, services)
    items = [feedback_record(item) for item in parsed.feedback]
    unknown = await run_in_threadpool(services.audit.record_feedback, items)
    for delay in FEEDBACK_RETRY_SECONDS:
        if not unknown:
            break
        await asyncio.sleep(delay)  # with `serve --workers N`, the card may still be in another process's queue
        unknown = await run_in_threadpool(services.audit.record_feedback, [i for i in items if i.card_uuid in unknown])
    if unknown:
        raise UnknownCardError(len(unknown))
    return JsonResponse({})


def feedback_record(item: FeedbackItem) -> FeedbackRecord:
    reason = item.override_reason
    coding = reason.reason if reason else None
    return FeedbackRecord(
        card_uuid=item.card,
        outcome=item.outcome,
        override_reason_code=coding.code if coding else None,
        override_reason_display=coding.display if coding else None,
        user_comment=reason.user_comment if reason else None,
        accepted_suggestions=[s.id for s in item.accepted_suggestions or []],
        outcome_timestamp=item.outcome_timestamp,
    )


async def _hold(*_: object) -> None:
    """Keeps the parsed body and the record alive until the answer is sent: freeing them (~0.15 ms for a
    150-resource chart) held the answer back when it ran as the handler returned; it now runs just after."""


async def _screened(screen: Callable[[], Prescreening], record: PatientRecord, services: HookServices) -> Prescreening:
    """A record of the usual size is screened on the event loop: its ~2 ms of CPU cost less there than the hop to
    a worker thread and the GIL hand-offs between that thread and the loop. A large one goes to a worker thread,
    so that it does not hold up the other calls for long."""
    if sum(map(len, record.resources.values())) <= INLINE_SCREENING_MAX_RESOURCES:
        return screen()
    return await anyio.to_thread.run_sync(screen, limiter=services.screening_slots)


async def _queue_for_audit(audit: AuditStore, records: Sequence[CardRecord]) -> bool:
    """Usually immediate; if the queue is full, wait for room briefly (off the event loop)."""
    return audit.submit_cards(records) or await run_in_threadpool(audit.submit_cards, records, AUDIT_ROOM_WAIT_SECONDS)


__all__ = ["HookAuthError", "ServiceNotFoundError", "UnknownCardError", "openapi_components", "router"]
