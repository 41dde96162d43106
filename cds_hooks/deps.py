"""What the hook routes depend on: the services the app was built with, the caller's JWT checked, the body read
(capped) and parsed. Plain functions of the request, not FastAPI dependencies: the hook's routes take the bare
request (`routes.BareRoute`), so no dependency graph is solved on every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
from starlette.requests import Request

from cds_hooks.auth import JwtVerifier
from cds_hooks.discovery import SERVICE_ID
from cds_hooks.models import (
    FeedbackRequest,
    HookRequest,
    HookRequestError,
    ServiceNotFoundError,
    parse_feedback_request,
    parse_hook_request,
)
from service.audit.store import AuditStore
from service.fhir_access.client import FhirClient
from service.fhir_access.record import PatientRecord
from service.request_body import BodyLimits, is_json, read_capped
from service.screening.screen import Screener
from service.screening.sites import Sites

# Screening is CPU-bound under one GIL: more threads than this add memory (each holds a parsed record and its
# reports) and latency variance, not throughput. Other calls wait their turn on the event loop.
SCREENING_THREADS = 2
# Records up to this many resources (a typical chart: ~2 ms of screening) are screened on the event loop, larger
# ones in one of those threads (a 2,000-resource chart takes ~30 ms: too long to hold up the other calls). With 8
# clients the hop to a thread and the GIL hand-offs it brings cost ~0.6 ms of CPU per call (~15 %).
INLINE_SCREENING_MAX_RESOURCES = 300


@dataclass(frozen=True, slots=True)
class HookServices:
    """Built once by the app (`app.state.hooks`) and shared by every hook call."""

    screener: Screener
    fhir: FhirClient
    verifier: JwtVerifier | None  # None: JWT checking is off (demo only)
    audit: AuditStore
    hook_url: str
    budget_seconds: float
    body_limits: BodyLimits
    embedded: Mapping[str, PatientRecord]  # demo patients served without a FHIR server
    report_link: Callable[[str], str]  # card uuid → absolute URL of its report page
    sites: Sites  # recruiting status, trial team, referral recipient per trial
    ruled_out_cards: bool  # also an info card per trial the patient is ruled out of
    screening_slots: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(SCREENING_THREADS))


def hook_services(request: Request) -> HookServices:
    services: HookServices = request.app.state.hooks
    return services


async def _authenticated_json(
    service_id: str, request: Request, services: HookServices, audience: str | list[str]
) -> bytes:
    if service_id != SERVICE_ID:
        raise ServiceNotFoundError
    if services.verifier is not None:
        await services.verifier.verify(request.headers.get("authorization"), audience)
    if not is_json(request):
        raise HookRequestError("Content-Type must be application/json")
    return await read_capped(request, services.body_limits)


async def hook_call(service_id: str, request: Request, services: HookServices) -> HookRequest:
    """Authenticated first (the JWT's audience is the hook URL), then parsed: a stranger learns nothing."""
    body = await _authenticated_json(service_id, request, services, services.hook_url)
    return parse_hook_request(body, expected_hook="patient-view")


async def feedback_call(service_id: str, request: Request, services: HookServices) -> FeedbackRequest:
    audience = [services.hook_url, f"{services.hook_url}/feedback"]
    return parse_feedback_request(await _authenticated_json(service_id, request, services, audience))
