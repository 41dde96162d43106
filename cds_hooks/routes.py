"""GET /cds-services, POST the hook, POST feedback: each handler parses, delegates and renders."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from cds_hooks.auth import HookAuthError, JwtVerifier
from cds_hooks.cards import audit_unavailable_card, card_for, warning_card
from cds_hooks.discovery import SERVICE_ID, discovery
from cds_hooks.models import (
    Card,
    CdsResponse,
    FeedbackRequest,
    HookRequest,
    HookRequestError,
    parse_feedback_request,
    parse_hook_request,
)
from cds_hooks.prefetch import gather_record
from service.audit.store import AuditStore, CardRecord, FeedbackRecord
from service.fhir_access.client import FhirClient
from service.fhir_access.record import PatientRecord
from service.json_response import JsonResponse
from service.request_body import is_json, read_capped
from service.screening.report import TrialReport
from service.screening.screen import Screener
from service.version import SERVICE_VERSION

log = logging.getLogger("trial_screen.hooks")
AUDIT_ROOM_WAIT_SECONDS = 2.0
SCREENING_THREADS = 2
FEEDBACK_RETRY_SECONDS = (0.1, 0.3, 0.6)


@dataclass(frozen=True, slots=True)
class HookDeps:
    screener: Screener
    fhir: FhirClient
    verifier: JwtVerifier | None  # None: JWT checking is off (demo only)
    audit: AuditStore
    hook_url: str
    budget_seconds: float
    max_request_bytes: int
    embedded: Mapping[str, PatientRecord]  # demo patients served without a FHIR server
    report_link: Callable[[str], str]


class ServiceNotFoundError(Exception):
    """POST to a service id we do not offer."""


def is_deceased(patient: Mapping[str, Any]) -> bool:
    """No referral is suggested for a patient the record says has died (deceasedBoolean / deceasedDateTime)."""
    return patient.get("deceasedBoolean") is True or bool(patient.get("deceasedDateTime"))


def _check_json(request: Request) -> None:
    if not is_json(request):
        raise HookRequestError("Content-Type must be application/json")


def _audit_record(
    card: Card,
    trial: TrialReport,
    version: str,
    patient: str,
    hook_instance: str,
    fhir_server: str | None,
    user: str | None,
    now: dt.datetime,
) -> CardRecord:
    criteria = [
        {
            "id": c.id,
            "cohort": c.cohort,
            "kind": c.kind,
            "result": c.result,
            "evidence": [e.reference for e in c.evidence],
            "missing": c.missing,
        }
        for c in trial.criteria
    ]
    evidence = sorted({e.reference for c in trial.criteria for e in c.evidence})
    return CardRecord(
        card_uuid=card.uuid or "",
        hook_instance=hook_instance,
        patient_ref=patient,
        fhir_server=fhir_server,
        user_ref=user,
        trial_id=trial.id,
        trial_status=trial.status,
        trial_version=version,
        service_version=SERVICE_VERSION,
        criteria=criteria,
        evidence_refs=evidence,
        report=trial.to_json_dict(),
        summary=card.summary,
        created_at=now,
    )


def _body_schema(request_model: str, response_model: str | None) -> dict[str, Any]:
    """The bodies are read raw (to authenticate first and to word 400s ourselves); OpenAPI still shows them."""
    extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request_model}"}}},
        }
    }
    if response_model:
        schema = {"$ref": f"#/components/schemas/{response_model}"}
        extra["responses"] = {"200": {"description": "Cards", "content": {"application/json": {"schema": schema}}}}
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


def create_router(deps: HookDeps) -> APIRouter:
    router = APIRouter(tags=["CDS Hooks"])
    # Screening is CPU-bound under one GIL: more threads than this add memory (each holds a parsed record and
    # its reports) and latency variance, not throughput. Other calls wait their turn on the event loop.
    screening_slots = anyio.CapacityLimiter(SCREENING_THREADS)
    # fixed for the life of the process: built once, not per call
    discovery_json = discovery().to_json()
    versions = deps.screener.versions()
    short_names = deps.screener.short_names()

    @router.get("/cds-services", summary="CDS Hooks discovery")
    async def get_discovery() -> JsonResponse:
        return JsonResponse(discovery_json)

    @router.post(
        "/cds-services/{service_id}",
        summary="Call the patient-view pre-screening service",
        openapi_extra=_body_schema("HookRequest", "CdsResponse"),
    )
    async def call_service(service_id: str, request: Request) -> JsonResponse:
        if service_id != SERVICE_ID:
            raise ServiceNotFoundError
        await _authenticate(request, deps.hook_url)
        _check_json(request)
        hook = parse_hook_request(await read_capped(request, deps.max_request_bytes), expected_hook="patient-view")
        gathered = await gather_record(hook, deps.fhir, budget_seconds=deps.budget_seconds, embedded=deps.embedded)
        cards: list[Card] = []
        records: list[CardRecord] = []
        if gathered.record is not None and not is_deceased(gathered.record.patient):
            carded = await anyio.to_thread.run_sync(
                functools.partial(deps.screener.screen_for_cards, gathered.record, unreadable=gathered.unreadable),
                limiter=screening_slots,
            )
            now = dt.datetime.now(dt.UTC)
            fhir_server = str(hook.fhir_server) if hook.fhir_server else None
            for trial in carded:
                card = card_for(trial, gathered.record.reference, deps.report_link, short_names[trial.id])
                cards.append(card)
                records.append(
                    _audit_record(
                        card,
                        trial,
                        versions[trial.id],
                        gathered.record.reference,
                        hook.hook_instance,
                        fhir_server,
                        hook.patient_view.user_id,
                        now,
                    )
                )
        if records and not await _queue_for_audit(records):
            log.error("hook answered without trial cards: the audit queue is full")
            cards = [audit_unavailable_card()]
        if gathered.problems:
            cards.append(warning_card(list(gathered.problems)))
            log.warning("hook answered with incomplete data: %d problem(s)", len(gathered.problems))
        return JsonResponse(CdsResponse(cards=cards).to_json())

    @router.post(
        "/cds-services/{service_id}/feedback",
        summary="Record what the clinician did with cards",
        openapi_extra=_body_schema("FeedbackRequest", None),
    )
    async def feedback(service_id: str, request: Request) -> JsonResponse:
        if service_id != SERVICE_ID:
            raise ServiceNotFoundError
        await _authenticate(request, [deps.hook_url, f"{deps.hook_url}/feedback"])
        _check_json(request)
        parsed = parse_feedback_request(await read_capped(request, deps.max_request_bytes))
        items = [
            FeedbackRecord(
                card_uuid=item.card,
                outcome=item.outcome,
                override_reason_code=item.override_reason.reason.code
                if item.override_reason and item.override_reason.reason
                else None,
                override_reason_display=item.override_reason.reason.display
                if item.override_reason and item.override_reason.reason
                else None,
                user_comment=item.override_reason.user_comment if item.override_reason else None,
                accepted_suggestions=[s.id for s in item.accepted_suggestions or []],
                outcome_timestamp=item.outcome_timestamp,
            )
            for item in parsed.feedback
        ]
        unknown = await run_in_threadpool(deps.audit.record_feedback, items)
        for delay in FEEDBACK_RETRY_SECONDS:
            if not unknown:
                break
            await asyncio.sleep(delay)  # with `serve --workers N`, the card may still be in another process's queue
            unknown = await run_in_threadpool(deps.audit.record_feedback, [i for i in items if i.card_uuid in unknown])
        if unknown:
            return JsonResponse(
                {"error": "unknown-card", "reason": f"{len(unknown)} card uuid(s) were never issued by this service"},
                status_code=404,
            )
        return JsonResponse({})

    async def _queue_for_audit(records: list[CardRecord]) -> bool:
        """Usually immediate; if the queue is full, wait for room briefly (off the event loop)."""
        return deps.audit.submit_cards(records) or await run_in_threadpool(
            deps.audit.submit_cards, records, AUDIT_ROOM_WAIT_SECONDS
        )

    async def _authenticate(request: Request, audience: str | list[str]) -> None:
        if deps.verifier is None:
            return
        await deps.verifier.verify(request.headers.get("authorization"), audience)

    return router


__all__ = ["HookAuthError", "HookDeps", "ServiceNotFoundError", "create_router", "openapi_components"]
