"""What can go wrong answering a person or a tool in the web layer. `service/app.py` decides each one's HTTP
status; `render` words the answer: JSON for the API, an HTML page for a browser."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import HTMLResponse, Response

from service.json_response import JsonResponse
from service.web.templating import templates

REALM: Final = 'Bearer realm="trial-screen-audit"'


class WebError(Exception):
    """`html`: the request was for a page, so the answer is one too."""

    code = "error"

    def __init__(self, reason: str, *, html: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.html = html


class AccessDeniedError(WebError):
    """No valid audit token, audit session or signed report link."""

    code = "unauthorized"

    def __init__(self, reason: str, *, html: bool, next_url: str = "/audit", token_given: bool = False) -> None:
        super().__init__(reason, html=html)
        self.next_url = next_url
        self.token_given = token_given


class CardNotFoundError(WebError):
    code = "not-found"

    def __init__(self, *, html: bool) -> None:
        super().__init__("no audited card with this uuid", html=html)


class StaticFileNotFoundError(WebError):
    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such file", html=False)


class BadAuditRequestError(WebError):
    """A filter, cursor or limit the audit store refused."""

    code = "bad-request"


class TooManyLoginsError(WebError):
    """Too many failed logins from this address: it may try again in `retry_after` seconds."""

    code = "too-many-attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} seconds.", html=True)
        self.retry_after = retry_after


class AuditUnavailableError(WebError):
    code = "audit-unavailable"

    def __init__(self, *, html: bool) -> None:
        super().__init__("the audit store is unavailable; try again later", html=html)


def render_page(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates().get_template(name).render(**context), status_code=status, headers=headers)


def render(exc: WebError, status: int) -> Response:
    if isinstance(exc, AccessDeniedError):
        return _denied(exc, status)
    if isinstance(exc, TooManyLoginsError):
        headers = {"Retry-After": str(exc.retry_after)}
        return render_page("audit_error.html", status, headers, title=exc.reason, reason=exc.reason, logged_in=False)
    if exc.html:
        return render_page("audit_error.html", status, title=exc.reason, reason=exc.reason, logged_in=False)
    return JsonResponse({"error": exc.code, "reason": exc.reason}, status_code=status)


def _denied(exc: AccessDeniedError, status: int) -> Response:
    challenge = REALM + (', error="invalid_token"' if exc.token_given else "")
    headers = {"WWW-Authenticate": challenge}
    if exc.html:
        return render_page(
            "audit_login.html",
            status,
            headers,
            title="Log in to the audit trail",
            reason=exc.reason,
            next_url=safe_next(exc.next_url),
            logged_in=False,
        )
    return JsonResponse({"error": exc.code, "reason": exc.reason}, status_code=status, headers=headers)


def safe_next(value: str | None) -> str:
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
