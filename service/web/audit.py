"""The audit trail over HTTP: a bearer-guarded JSON/CSV API, coordinator pages, and the card report page.

Who may read what:

- ``/audit/cards``, ``/audit/cards/{uuid}``, ``/audit/cards.csv`` (JSON/CSV) and the pages under ``/audit``:
  the audit token as a bearer token, or an audit session cookie obtained by posting that token to
  ``/audit/login``. No token configured: every request is refused.
- ``/reports/{uuid}``: the report link a card carries (``?sig=`` from :class:`LinkSigner`), or an audit session.

The session cookie holds ``v1.<expiry>.<nonce>.<hmac>``, signed with a key derived from the audit token (never
the token itself); changing the token ends every session. Sessions are stateless: logging out clears the
cookie in the browser, and a copied cookie stays valid until it expires (8 hours).

Refusals are 401 with ``WWW-Authenticate``: JSON ``{"error": "unauthorized", "reason": …}`` for the API, an
HTML page carrying the login form for the pages. Nothing about a patient is logged here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from service.audit.errors import AuditRequestError
from service.audit.store import AuditedCard, AuditError, AuditStore, CardFilter, FeedbackRecord
from service.json_response import JsonResponse
from service.screening.report import CriterionReport, EvidenceItem, TrialReport
from service.settings import Settings
from service.web.links import LinkSigner
from service.web.templating import templates

log = logging.getLogger("trial_screen.audit_web")

SESSION_COOKIE: Final = "trial_screen_audit"
SESSION_SECONDS: Final = 8 * 60 * 60
_SESSION_CONTEXT: Final = b"trial-screen/audit-session/v1"
_REALM: Final = 'Bearer realm="trial-screen-audit"'
_PAGE_SIZE: Final = 50
_MAX_LIMIT: Final = 200
_CSV_CHUNK: Final = 64 * 1024
_SIG_PATTERN: Final = re.compile(r"[0-9a-f]{32}")

Status = Literal["eligible", "possibly-eligible", "ineligible"]
Outcome = Literal["accepted", "overridden", "none"]
STATUSES: Final[tuple[str, ...]] = ("eligible", "possibly-eligible", "ineligible")
OUTCOMES: Final[tuple[str, ...]] = ("accepted", "overridden", "none")


# -- response models (the OpenAPI schema) ---------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class OverrideReasonOut(_Out):
    code: str | None = Field(description="Override reason code, from the card's overrideReasons")
    display: str | None = None


class FeedbackOut(_Out):
    outcome: Literal["accepted", "overridden"]
    override_reason: OverrideReasonOut | None = None
    user_comment: str | None = None
    accepted_suggestions: list[str] = Field(default_factory=list, description="Ids of the accepted suggestions")
    outcome_timestamp: dt.datetime


class CriterionOut(_Out):
    id: str
    cohort: str | None = Field(default=None, description="Arm id; null for a criterion common to all arms")
    kind: str = Field(description="inclusion | exclusion")
    result: str = Field(description="met | not-met | unknown | manual (about the criterion's own wording)")
    evidence: list[str] = Field(default_factory=list, description="FHIR references the result was based on")
    missing: list[str] = Field(default_factory=list, description="Data that would decide an unknown criterion")


class CardOut(_Out):
    card_uuid: str
    created_at: dt.datetime
    patient: str = Field(description="FHIR reference of the patient, e.g. Patient/123")
    trial_id: str
    trial_status: str
    trial_version: str = Field(description="Content hash of the trial definition the card was computed with")
    service_version: str
    hook_instance: str
    fhir_server: str | None
    user: str | None = Field(description="FHIR reference of the EHR user (hook context userId)")
    summary: str
    outcome: Outcome = Field(description="Outcome of the latest feedback; none without feedback")
    criteria: list[CriterionOut]
    evidence_refs: list[str]
    feedback: list[FeedbackOut] = Field(description="All feedback on the card, oldest first")


class CardDetailOut(CardOut):
    report: dict[str, Any] = Field(description="The trial's screening report as shown to the clinician")


class CardPageOut(_Out):
    items: list[CardOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class ErrorOut(BaseModel):
    error: str
    reason: str


def _criterion_out(raw: Any) -> CriterionOut:
    data = raw if isinstance(raw, dict) else {}
    evidence = data.get("evidence") or []
    return CriterionOut(
        id=str(data.get("id", "")),
        cohort=data.get("cohort") if isinstance(data.get("cohort"), str) else None,
        kind=str(data.get("kind", "")),
        result=str(data.get("result", "")),
        evidence=[e if isinstance(e, str) else str(e.get("reference", "")) for e in evidence if e],
        missing=[str(m) for m in data.get("missing") or []],
    )


def _feedback_out(fb: FeedbackRecord) -> FeedbackOut:
    reason = None
    if fb.override_reason_code is not None or fb.override_reason_display is not None:
        reason = OverrideReasonOut(code=fb.override_reason_code, display=fb.override_reason_display)
    return FeedbackOut(
        outcome="overridden" if fb.outcome == "overridden" else "accepted",
        override_reason=reason,
        user_comment=fb.user_comment,
        accepted_suggestions=list(fb.accepted_suggestions),
        outcome_timestamp=fb.outcome_timestamp,
    )


def _outcome(card: AuditedCard) -> Outcome:
    """The latest feedback's outcome (the store returns feedback oldest first, as its filter orders it)."""
    if not card.feedback:
        return "none"
    return "overridden" if card.feedback[-1].outcome == "overridden" else "accepted"


def _card_fields(card: AuditedCard) -> dict[str, Any]:
    return {
        "card_uuid": card.card_uuid,
        "created_at": card.created_at,
        "patient": card.patient_ref,
        "trial_id": card.trial_id,
        "trial_status": card.trial_status,
        "trial_version": card.trial_version,
        "service_version": card.service_version,
        "hook_instance": card.hook_instance,
        "fhir_server": card.fhir_server,
        "user": card.user_ref,
        "summary": card.summary,
        "outcome": _outcome(card),
        "criteria": [_criterion_out(c) for c in card.criteria],
        "evidence_refs": list(card.evidence_refs),
        "feedback": [_feedback_out(fb) for fb in card.feedback],
    }


# -- filters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Filters:
    """The filter as typed by the user (to echo it back in forms and links) and as the store takes it."""

    raw: dict[str, str]
    flt: CardFilter
    errors: list[tuple[str, str]] = field(default_factory=list)  # (query parameter, message)

    def query(self, **extra: str | None) -> str:
        values = {**self.raw, **{k: v for k, v in extra.items() if v}}
        return urlencode({k: v for k, v in values.items() if v})


def _bound(raw: str, *, end: bool) -> dt.datetime:
    """A date means the whole day (UTC); a datetime without offset is UTC. ``end`` is exclusive."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        moment = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
        return moment + dt.timedelta(days=1) if end else moment
    moment = dt.datetime.fromisoformat(raw)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _patient_ref(raw: str) -> str:
    """``123`` and ``Patient/123`` both mean Patient/123."""
    return raw if "/" in raw else f"Patient/{raw}"


def _parse_filters(
    patient: str | None,
    trial: str | None,
    status: str | None,
    outcome: str | None,
    from_: str | None,
    to: str | None,
) -> _Filters:
    raw = {
        "patient": (patient or "").strip(),
        "trial": (trial or "").strip(),
        "status": (status or "").strip(),
        "outcome": (outcome or "").strip(),
        "from": (from_ or "").strip(),
        "to": (to or "").strip(),
    }
    errors: list[tuple[str, str]] = []
    if raw["status"] and raw["status"] not in STATUSES:
        errors.append(("status", f"status must be one of {', '.join(STATUSES)}"))
    if raw["outcome"] and raw["outcome"] not in OUTCOMES:
        errors.append(("outcome", f"outcome must be one of {', '.join(OUTCOMES)}"))
    bounds: dict[str, dt.datetime | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if raw[name]:
            try:
                bounds[name] = _bound(raw[name], end=name == "to")
            except ValueError:
                errors.append((name, f"{name} must be an ISO date (YYYY-MM-DD) or date-time"))
    start, end = bounds["from"], bounds["to"]
    if start is not None and end is not None and start >= end:
        errors.append(("to", "to must be after from"))
    flt = CardFilter(
        patient=_patient_ref(raw["patient"]) if raw["patient"] else None,
        trial=raw["trial"] or None,
        status=raw["status"] if raw["status"] in STATUSES else None,
        outcome=raw["outcome"] if raw["outcome"] in OUTCOMES else None,
        start=start,
        end=end,
    )
    return _Filters(raw, flt, errors)


def _api_filters(
    patient: Annotated[str | None, Query(max_length=256, description="Patient reference (Patient/123 or 123)")] = None,
    trial: Annotated[str | None, Query(max_length=128, description="Trial id")] = None,
    status: Annotated[Status | None, Query(description="Trial status on the card")] = None,
    outcome: Annotated[Outcome | None, Query(description="Latest feedback outcome; none: no feedback")] = None,
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=64, description="Created at or after: ISO date (UTC day start) or date-time"),
    ] = None,
    to: Annotated[
        str | None,
        Query(max_length=64, description="Created before: ISO date-time (exclusive), or a date (that whole UTC day)"),
    ] = None,
) -> _Filters:
    parsed = _parse_filters(patient, trial, status, outcome, from_, to)
    if parsed.errors:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", name), "msg": message} for name, message in parsed.errors]
        )
    return parsed


# -- authentication -------------------------------------------------------------------------------------------


class _DeniedError(Exception):
    def __init__(self, reason: str, *, html: bool, next_url: str = "/audit", token_given: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.html = html
        self.next_url = next_url
        self.token_given = token_given


class _FailedError(Exception):
    """A known error to render as JSON (API) or HTML (pages)."""

    def __init__(self, status: int, code: str, reason: str, *, html: bool) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.html = html


class _Guard:
    def __init__(self, token: str | None, secure_cookie: bool) -> None:
        self._token = token.encode() if token else None
        self._key = hmac.new(self._token, _SESSION_CONTEXT, hashlib.sha256).digest() if self._token else None
        self.secure_cookie = secure_cookie

    @property
    def configured(self) -> bool:
        return self._token is not None

    def token_ok(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(given.encode(), self._token)

    def _sign(self, payload: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + SESSION_SECONDS)
        payload = f"v1.{expiry}.{secrets.token_hex(16)}"
        return f"{payload}.{self._sign(payload)}"

    def session_ok(self, value: str | None, now: float | None = None) -> bool:
        if self._key is None or not value or len(value) > 200:
            return False
        payload, _, signature = value.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return False
        if not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            return False
        return int(parts[1]) > (now if now is not None else time.time())

    def check(self, request: Request, presented: HTTPAuthorizationCredentials | None) -> tuple[bool, str, bool]:
        """(allowed, reason when not, whether a token was presented)."""
        if not self.configured:
            return False, "the audit API is disabled: no audit token is configured", False
        if presented is not None:
            if self.token_ok(presented.credentials):
                return True, "", True
            return False, "invalid bearer token", True
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            if self.session_ok(cookie):
                return True, "", False
            return False, "the audit session is invalid or has expired; log in again", False
        return False, "a bearer token or an audit session is required", False


_bearer_scheme = HTTPBearer(auto_error=False, description="The audit token (TRIAL_SCREEN_AUDIT_TOKEN)")
_cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Session from POST /audit/login")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)]
SessionCookie = Annotated[str | None, Security(_cookie_scheme)]


def _safe_next(value: str | None) -> str:
    """Only our own audit and report pages: never an open redirect."""
    if (
        value
        and value.startswith(("/audit", "/reports/"))
        and not value.startswith("/audit/login")
        and "\\" not in value
        and "//" not in value
    ):
        return value
    return "/audit"


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


# -- error rendering ------------------------------------------------------------------------------------------


def _render(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates().get_template(name).render(**context), status_code=status, headers=headers)


def _denied_response(exc: _DeniedError) -> Response:
    challenge = _REALM + (', error="invalid_token"' if exc.token_given else "")
    headers = {"WWW-Authenticate": challenge}
    if exc.html:
        return _render(
            "audit_login.html",
            401,
            headers,
            title="Log in to the audit trail",
            reason=exc.reason,
            next_url=_safe_next(exc.next_url),
            logged_in=False,
        )
    return JsonResponse({"error": "unauthorized", "reason": exc.reason}, status_code=401, headers=headers)


def _failed_response(exc: _FailedError) -> Response:
    if exc.html:
        return _render("audit_error.html", exc.status, title=exc.reason, reason=exc.reason, logged_in=False)
    return JsonResponse({"error": exc.code, "reason": exc.reason}, status_code=exc.status)


class _AuditRoute(APIRoute):
    """Renders this router's refusals and known failures itself: JSON for the API, HTML for pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except _DeniedError as exc:
                return _denied_response(exc)
            except _FailedError as exc:
                return _failed_response(exc)

        return guarded


def _store_failure(exc: AuditError, *, html: bool) -> _FailedError:
    """A caller error (bad cursor, …) is a 400; the database failing is a 503. Never a trace."""
    if isinstance(exc, AuditRequestError):
        return _FailedError(400, "bad-request", str(exc), html=html)
    log.error("audit store failure: %s", exc)
    return _FailedError(503, "audit-unavailable", "the audit store is unavailable; try again later", html=html)


# -- report view --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CriterionView:
    id: str
    kind: str
    text: str
    result: str
    verdict: str  # favourable | unfavourable | unknown | manual
    label: str
    evidence: list[tuple[str, str]]  # (display, reference)
    missing: list[str]


@dataclass(frozen=True, slots=True)
class _GroupView:
    key: str
    title: str
    status: str | None
    inclusion: list[_CriterionView]
    exclusion: list[_CriterionView]


@dataclass(frozen=True, slots=True)
class _ReportView:
    trial_id: str
    title: str
    registry_id: str | None
    status: str
    groups: list[_GroupView]
    complete: bool  # False: the stored report was unreadable, shown from the card's criteria


_LABELS: Final = {
    ("inclusion", "met"): ("favourable", "Met"),
    ("inclusion", "not-met"): ("unfavourable", "Not met"),
    ("exclusion", "met"): ("unfavourable", "Applies: excludes"),
    ("exclusion", "not-met"): ("favourable", "Does not apply"),
}


def _criterion_view(c: CriterionReport) -> _CriterionView:
    if c.result == "unknown":
        verdict, label = "unknown", "Unknown: data missing"
    elif c.result == "manual":
        verdict, label = "manual", "Manual review"
    else:
        verdict, label = _LABELS.get((c.kind, c.result), ("unknown", c.result))
    return _CriterionView(
        id=c.id,
        kind=c.kind,
        text=c.text,
        result=c.result,
        verdict=verdict,
        label=label,
        evidence=[(e.display, e.reference) for e in c.evidence],
        missing=list(c.missing),
    )


def _trial_report(card: AuditedCard) -> tuple[TrialReport, bool]:
    try:
        return TrialReport.model_validate(card.report), True
    except ValidationError:
        criteria = [
            CriterionReport(
                id=c.id,
                cohort=c.cohort,
                kind=c.kind,
                text=c.id,
                result=c.result,
                evidence=[EvidenceItem(reference=ref, display=ref) for ref in c.evidence],
                missing=c.missing,
            )
            for c in (_criterion_out(raw) for raw in card.criteria)
        ]
        fallback = TrialReport(
            id=card.trial_id,
            title=card.trial_id,
            registry_id=None,
            status=card.trial_status,
            cohorts=[],
            criteria=criteria,
        )
        return fallback, False


def _report_view(card: AuditedCard) -> _ReportView:
    trial, complete = _trial_report(card)
    arms: dict[str | None, tuple[str, str | None]] = {None: ("Common to all arms", None)}
    for cohort in trial.cohorts:
        arms[cohort.id] = (f"Arm: {cohort.title}", cohort.status)
    for c in trial.criteria:
        arms.setdefault(c.cohort, (f"Arm: {c.cohort}", None))
    groups = []
    for key, (title, status) in arms.items():
        members = [_criterion_view(c) for c in trial.criteria if c.cohort == key]
        if not members:
            continue
        groups.append(
            _GroupView(
                key=key or "common",
                title=title,
                status=status,
                inclusion=[c for c in members if c.kind != "exclusion"],
                exclusion=[c for c in members if c.kind == "exclusion"],
            )
        )
    return _ReportView(trial.id, trial.title, trial.registry_id, trial.status, groups, complete)


# -- the router ---------------------------------------------------------------------------------------------------

_UNAUTHORIZED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorOut, "description": "No valid bearer token or audit session"}
}


def create_router(store: AuditStore, settings: Settings, links: LinkSigner, trial_ids: Sequence[str] = ()) -> APIRouter:
    token = settings.audit_token.get_secret_value() if settings.audit_token else None
    guard = _Guard(token, secure_cookie=settings.public_url.lower().startswith("https://"))
    css = (resources.files("service.web") / "static" / "audit.css").read_bytes()
    router = APIRouter(route_class=_AuditRoute)

    def api_auth(request: Request, bearer: Bearer, _cookie: SessionCookie) -> None:
        allowed, reason, given = guard.check(request, bearer)
        if not allowed:
            raise _DeniedError(reason, html=False, token_given=given)

    def page_auth(request: Request, bearer: Bearer, _cookie: SessionCookie) -> None:
        allowed, reason, given = guard.check(request, bearer)
        if not allowed:
            if request.cookies.get(SESSION_COOKIE) is None and bearer is None:
                reason = "Log in with the audit token to see the audit trail."
            raise _DeniedError(reason, html=True, next_url=_here(request), token_given=given)

    ApiAuth = Depends(api_auth)  # noqa: N806
    PageAuth = Depends(page_auth)  # noqa: N806

    # -- API ---------------------------------------------------------------------------------------------

    @router.get(
        "/audit/cards",
        tags=["Audit"],
        summary="List audited cards, newest first",
        response_model=CardPageOut,
        responses=_UNAUTHORIZED,
        dependencies=[ApiAuth],
    )
    def list_cards(
        filters: Annotated[_Filters, Depends(_api_filters)],
        limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT, description="Page size")] = _PAGE_SIZE,
        cursor: Annotated[str | None, Query(max_length=512, description="nextCursor of the previous page")] = None,
    ) -> CardPageOut:
        try:
            page = store.list_cards(filters.flt, limit=limit, cursor=cursor or None)
        except AuditError as exc:
            raise _store_failure(exc, html=False) from exc
        return CardPageOut(items=[CardOut(**_card_fields(c)) for c in page.items], next_cursor=page.next_cursor)

    @router.get(
        "/audit/cards.csv",
        tags=["Audit"],
        summary="Export the filtered audit trail as CSV (streamed)",
        response_class=StreamingResponse,
        responses={**_UNAUTHORIZED, 200: {"content": {"text/csv": {}}, "description": "One row per card"}},
        dependencies=[ApiAuth],
    )
    def export_csv(filters: Annotated[_Filters, Depends(_api_filters)]) -> StreamingResponse:
        lines = store.export_csv(filters.flt)
        try:
            header = next(lines)  # runs the query now: a database failure is an error, not a cut stream
        except AuditError as exc:
            raise _store_failure(exc, html=False) from exc
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            _stream(header, lines),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-cards-{stamp}.csv"'},
        )

    @router.get(
        "/audit/cards/{card_uuid}",
        tags=["Audit"],
        summary="One audited card with its feedback and screening report",
        response_model=CardDetailOut,
        responses={**_UNAUTHORIZED, 404: {"model": ErrorOut, "description": "No card with this uuid"}},
        dependencies=[ApiAuth],
    )
    def get_card(card_uuid: str) -> CardDetailOut:
        card = _load(card_uuid, html=False)
        return CardDetailOut(**_card_fields(card), report=dict(card.report))

    def _load(card_uuid: str, *, html: bool) -> AuditedCard:
        if len(card_uuid) > 64:
            raise _FailedError(404, "not-found", "no audited card with this uuid", html=html)
        try:
            card = store.get_card(card_uuid)
        except AuditError as exc:
            raise _store_failure(exc, html=html) from exc
        if card is None:
            raise _FailedError(404, "not-found", "no audited card with this uuid", html=html)
        return card

    # -- pages -------------------------------------------------------------------------------------------

    @router.get("/audit/static/audit.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/audit/login", include_in_schema=False, response_class=HTMLResponse)
    def login_form(next_url: Annotated[str | None, Query(alias="next", max_length=2048)] = None) -> HTMLResponse:
        reason = None if guard.configured else "The audit trail is disabled: no audit token is configured."
        return _render(
            "audit_login.html",
            title="Log in to the audit trail",
            reason=reason,
            next_url=_safe_next(next_url),
            logged_in=False,
        )

    @router.post("/audit/login", include_in_schema=False)
    def login(
        token: Annotated[str, Form(max_length=1024)] = "",
        next_url: Annotated[str, Form(alias="next", max_length=2048)] = "/audit",
    ) -> Response:
        if not guard.configured:
            raise _DeniedError("The audit trail is disabled: no audit token is configured.", html=True)
        if not guard.token_ok(token):
            log.warning("audit: failed login")
            raise _DeniedError("That token is not valid.", html=True, next_url=next_url, token_given=True)
        response = RedirectResponse(_safe_next(next_url), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            guard.new_session(),
            max_age=SESSION_SECONDS,
            path="/",
            secure=guard.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post("/audit/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/audit/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=guard.secure_cookie, httponly=True, samesite="strict")
        return response

    @router.get("/audit", include_in_schema=False, response_class=HTMLResponse, dependencies=[PageAuth])
    def audit_page(
        patient: Annotated[str | None, Query(max_length=256)] = None,
        trial: Annotated[str | None, Query(max_length=128)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        outcome: Annotated[str | None, Query(max_length=32)] = None,
        from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
        to: Annotated[str | None, Query(max_length=64)] = None,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> HTMLResponse:
        filters = _parse_filters(patient, trial, status, outcome, from_, to)
        context: dict[str, Any] = {
            "title": "Audit trail",
            "logged_in": True,
            "filters": filters.raw,
            "errors": filters.errors,
            "trial_ids": sorted({*trial_ids, *([filters.raw["trial"]] if filters.raw["trial"] else [])}),
            "statuses": STATUSES,
            "outcomes": OUTCOMES,
            "counts": {},
            "totals": {},
            "cards": [],
            "next_url": None,
            "first_url": "/audit?" + filters.query() if cursor else None,
            "csv_url": "/audit/cards.csv" + (f"?{filters.query()}" if filters.query() else ""),
        }
        if filters.errors:
            return _render("audit_list.html", 400, **context)
        try:
            counts = store.counts(filters.flt)
            page = store.list_cards(filters.flt, limit=_PAGE_SIZE, cursor=cursor or None)
        except AuditError as exc:
            failure = _store_failure(exc, html=True)
            if failure.status != 400:
                raise failure from exc
            context["errors"] = [("cursor", "That page link is no longer valid; start from the first page.")]
            return _render("audit_list.html", 400, **context)
        totals = {key: sum(row[key] for row in counts.values()) for key in ("cards", "accepted", "overridden")}
        totals["no-feedback"] = sum(row["no-feedback"] for row in counts.values())
        context.update(
            counts=counts,
            totals=totals,
            cards=[{"card": c, "outcome": _outcome(c)} for c in page.items],
            next_url=f"/audit?{filters.query(cursor=page.next_cursor)}" if page.next_cursor else None,
        )
        return _render("audit_list.html", **context)

    @router.get(
        "/audit/cards/{card_uuid}/view",
        include_in_schema=False,
        response_class=HTMLResponse,
        dependencies=[PageAuth],
    )
    def card_page(card_uuid: str) -> HTMLResponse:
        card = _load(card_uuid, html=True)
        return _render(
            "audit_card.html",
            title=f"Card {card.card_uuid}",
            logged_in=True,
            card=card,
            outcome=_outcome(card),
            report=_report_view(card),
            report_url=links.report_url(card.card_uuid),
        )

    # -- the card's report link -----------------------------------------------------------------------------

    @router.get("/reports/{card_uuid}", include_in_schema=False, response_class=HTMLResponse)
    def report_page(
        request: Request,
        card_uuid: str,
        bearer: Bearer,
        sig: Annotated[str | None, Query(max_length=128)] = None,
    ) -> HTMLResponse:
        signed = sig is not None and _SIG_PATTERN.fullmatch(sig) is not None and links.is_valid(card_uuid, sig)
        if not signed:
            allowed, reason, given = guard.check(request, bearer)
            if not allowed:
                if sig is not None:
                    reason = "This report link is not valid. Open the report from the card again, or log in."
                elif not given and request.cookies.get(SESSION_COOKIE) is None:
                    reason = "This report needs the link from its card, or an audit login."
                raise _DeniedError(reason, html=True, next_url=_here(request), token_given=given)
        card = _load(card_uuid, html=True)
        return _render(
            "report.html",
            title=f"Screening report: {card.trial_id}",
            logged_in=not signed,
            card=card,
            report=_report_view(card),
        )

    return router


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
