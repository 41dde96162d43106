"""What the audit and report routes depend on, as FastAPI dependencies: the audit services the app was built
with, and the two ways in (API: a bearer token; pages: the token or a session)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.audit.store import AuditedCard, AuditError, AuditRequestError, AuditStore
from service.web.audit_access import SESSION_COOKIE, AuditGuard, Bearer, SessionCookie
from service.web.errors import AccessDeniedError, AuditUnavailableError, BadAuditRequestError, CardNotFoundError
from service.web.links import LinkSigner

log = logging.getLogger("trial_screen.audit_web")
_MAX_UUID_CHARS = 64


@dataclass(frozen=True, slots=True)
class AuditWeb:
    """Built once by the app (`app.state.audit_web`)."""

    store: AuditStore
    guard: AuditGuard
    links: LinkSigner
    trial_ids: tuple[str, ...]  # offered in the page's trial filter


def audit_web(request: Request) -> AuditWeb:
    web: AuditWeb = request.app.state.audit_web
    return web


AuditWebDep = Annotated[AuditWeb, Depends(audit_web)]


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def api_auth(request: Request, bearer: Bearer, _cookie: SessionCookie, web: AuditWebDep) -> None:
    access = web.guard.check(request, bearer)
    if not access.allowed:
        raise AccessDeniedError(access.reason, html=False, token_given=access.token_given)


def page_auth(request: Request, bearer: Bearer, _cookie: SessionCookie, web: AuditWebDep) -> None:
    access = web.guard.check(request, bearer)
    if not access.allowed:
        reason = access.reason
        if request.cookies.get(SESSION_COOKIE) is None and bearer is None:
            reason = "Log in with the audit token to see the audit trail."
        raise AccessDeniedError(reason, html=True, next_url=here(request), token_given=access.token_given)


def store_failure(exc: AuditError, *, html: bool) -> BadAuditRequestError | AuditUnavailableError:
    """A caller error (bad cursor, …) is the caller's; the database failing is ours. Never a trace."""
    if isinstance(exc, AuditRequestError):
        return BadAuditRequestError(str(exc), html=html)
    log.error("audit store failure: %s", exc)
    return AuditUnavailableError(html=html)


def load_card(store: AuditStore, card_uuid: str, *, html: bool) -> AuditedCard:
    if len(card_uuid) > _MAX_UUID_CHARS:
        raise CardNotFoundError(html=html)
    try:
        card = store.get_card(card_uuid)
    except AuditError as exc:
        raise store_failure(exc, html=html) from exc
    if card is None:
        raise CardNotFoundError(html=html)
    return card
