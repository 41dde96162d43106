"""The audit trail for coordinators (log in, the filtered list with counts, one card) and the report page each
card links to.

``/reports/{uuid}`` opens with the signed link a card carries (``?sig=`` from :class:`LinkSigner`), so a clinician
needs no audit token for the one report they were shown; otherwise it needs an audit login like every page here.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.audit.store import AuditError
from service.web.audit_access import SESSION_COOKIE, SESSION_SECONDS, Bearer
from service.web.audit_api import PAGE_SIZE
from service.web.audit_filters import OUTCOME_FILTERS, STATUSES, parse_filters
from service.web.audit_schemas import latest_outcome
from service.web.deps import AuditWebDep, here, load_card, page_auth, store_failure
from service.web.errors import AccessDeniedError, BadAuditRequestError, TooManyLoginsError, render_page, safe_next
from service.web.report_view import report_view

log = logging.getLogger("trial_screen.audit_web")

_SIG_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
_CSS: Final = (resources.files("service.web") / "static" / "audit.css").read_bytes()

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PageAuth = Depends(page_auth)


@router.get("/audit/static/audit.css")
def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/audit/login")
def login_form(
    web: AuditWebDep, next_url: Annotated[str | None, Query(alias="next", max_length=2048)] = None
) -> HTMLResponse:
    reason = None if web.guard.configured else "The audit trail is disabled: no audit token is configured."
    return render_page(
        "audit_login.html",
        title="Log in to the audit trail",
        reason=reason,
        next_url=safe_next(next_url),
        logged_in=False,
    )


@router.post("/audit/login")
def login(
    web: AuditWebDep,
    request: Request,
    token: Annotated[str, Form(max_length=1024)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2048)] = "/audit",
) -> Response:
    guard = web.guard
    if not guard.configured:
        raise AccessDeniedError("The audit trail is disabled: no audit token is configured.", html=True)
    address = request.client.host if request.client else "unknown"
    if wait := guard.logins.wait_seconds(address):
        log.warning("audit: login refused, too many failures from one address")
        raise TooManyLoginsError(wait)
    if not guard.token_ok(token):
        guard.logins.failed(address)
        log.warning("audit: failed login")
        raise AccessDeniedError("That token is not valid.", html=True, next_url=next_url, token_given=True)
    guard.logins.succeeded(address)
    response = RedirectResponse(safe_next(next_url), status_code=303)
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


@router.post("/audit/logout")
def logout(web: AuditWebDep) -> Response:
    response = RedirectResponse("/audit/login", status_code=303)
    secure = web.guard.secure_cookie
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    return response


@router.get("/audit", dependencies=[PageAuth])
def audit_page(
    web: AuditWebDep,
    patient: Annotated[str | None, Query(max_length=256)] = None,
    trial: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    filters = parse_filters(patient, trial, status, outcome, from_, to)
    context: dict[str, Any] = {
        "title": "Audit trail",
        "logged_in": True,
        "filters": filters.raw,
        "errors": filters.errors,
        "trial_ids": sorted({*web.trial_ids, *([filters.raw["trial"]] if filters.raw["trial"] else [])}),
        "statuses": STATUSES,
        "outcomes": OUTCOME_FILTERS,
        "counts": {},
        "totals": {},
        "cards": [],
        "next_url": None,
        "first_url": "/audit?" + filters.query() if cursor else None,
        "csv_url": "/audit/cards.csv" + (f"?{filters.query()}" if filters.query() else ""),
    }
    if filters.errors:
        return render_page("audit_list.html", 400, **context)
    try:
        counts = web.store.counts(filters.flt)
        page = web.store.list_cards(filters.flt, limit=PAGE_SIZE, cursor=cursor or None)
    except AuditError as exc:
        failure = store_failure(exc, html=True)
        if not isinstance(failure, BadAuditRequestError):
            raise failure from exc
        context["errors"] = [("cursor", "That page link is no longer valid; start from the first page.")]
        return render_page("audit_list.html", 400, **context)
    totals = {key: sum(row[key] for row in counts.values()) for key in ("cards", "accepted", "overridden")}
    totals["no-feedback"] = sum(row["no-feedback"] for row in counts.values())
    context.update(
        counts=counts,
        totals=totals,
        cards=[{"card": c, "outcome": latest_outcome(c)} for c in page.items],
        next_url=f"/audit?{filters.query(cursor=page.next_cursor)}" if page.next_cursor else None,
    )
    return render_page("audit_list.html", **context)


@router.get("/audit/cards/{card_uuid}/view", dependencies=[PageAuth])
def card_page(web: AuditWebDep, card_uuid: str) -> HTMLResponse:
    card = load_card(web.store, card_uuid, html=True)
    return render_page(
        "audit_card.html",
        title=f"Card {card.card_uuid}",
        logged_in=True,
        card=card,
        outcome=latest_outcome(card),
        report=report_view(card),
        report_url=web.links.report_url(card.card_uuid),
    )


@router.get("/reports/{card_uuid}")
def report_page(
    web: AuditWebDep,
    request: Request,
    card_uuid: str,
    bearer: Bearer,
    sig: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    signed = sig is not None and _SIG_PATTERN.fullmatch(sig) is not None and web.links.is_valid(card_uuid, sig)
    if not signed:
        access = web.guard.check(request, bearer)
        if not access.allowed:
            reason = access.reason
            if sig is not None:
                reason = "This report link is not valid. Open the report from the card again, or log in."
            elif not access.token_given and request.cookies.get(SESSION_COOKIE) is None:
                reason = "This report needs the link from its card, or an audit login."
            raise AccessDeniedError(reason, html=True, next_url=here(request), token_given=access.token_given)
    card = load_card(web.store, card_uuid, html=True)
    return render_page(
        "report.html",
        title=f"Screening report: {card.trial_id}",
        logged_in=not signed,
        card=card,
        report=report_view(card),
    )
