"""The composition root: settings in, FastAPI app out. The only module that wires cds_hooks to service."""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_hooks.auth import HookAuthError, JwtVerifier, bearer_check
from cds_hooks.deps import HookServices
from cds_hooks.models import HookRequestError, ServiceNotFoundError, UnknownCardError
from cds_hooks.routes import call_service, openapi_components
from cds_hooks.routes import router as hooks_router
from mappings import units
from service.audit.errors import AuditError, AuditRequestError
from service.audit.store import AuditStore
from service.fhir_access.client import FhirClient
from service.fhir_access.errors import BundleError, FhirServerNotAllowed
from service.fhir_access.http_client import http_client
from service.gc_tuning import tune_for_serving
from service.json_response import JsonResponse
from service.request_body import BodyLimits, RequestTimeoutError, RequestTooLargeError
from service.screening.screen import Screener, load_screener
from service.screening.sites import Sites, load_sites
from service.settings import Settings, sqlite_file
from service.version import SERVICE_VERSION
from service.web.audit_access import AuditGuard
from service.web.audit_api import router as audit_api_router
from service.web.audit_pages import router as audit_pages_router
from service.web.deps import AuditWeb
from service.web.errors import (
    AccessDeniedError,
    AuditUnavailableError,
    BadAuditRequestError,
    CardNotFoundError,
    StaticFileNotFoundError,
    TooManyLoginsError,
    WebError,
    render,
)
from service.web.links import LinkSigner
from service.web.screening import create_router as screening_router

log = logging.getLogger("trial_screen")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _error(status: int, code: str, reason: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": code, "reason": reason}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """HTTP status codes are decided here only; never a trace, a token or PHI in a body."""

    async def bad_request(_: Request, exc: Exception) -> Response:
        return _error(400, "bad-request", getattr(exc, "reason", str(exc)))

    async def unauthorized(_: Request, exc: Exception) -> Response:
        reason = getattr(exc, "reason", "unauthorized")
        return _error(401, "unauthorized", reason, {"WWW-Authenticate": "Bearer"})

    async def forbidden(_: Request, exc: Exception) -> Response:
        return _error(403, "fhir-server-not-allowed", "the fhirServer is not on this service's allow-list")

    async def not_found(_: Request, exc: Exception) -> Response:
        return _error(404, "not-found", "no such CDS service")

    async def unknown_card(_: Request, exc: Exception) -> Response:
        return _error(404, "unknown-card", getattr(exc, "reason", str(exc)))

    async def too_large(_: Request, exc: Exception) -> Response:
        return _error(413, "too-large", "the request body is larger than this service accepts")

    async def body_timeout(_: Request, exc: Exception) -> Response:
        log.info("request body stopped arriving: answered 408")
        headers = {"Connection": "close"}
        return _error(408, "request-timeout", "the request body did not arrive in time", headers)

    async def client_gone(request: Request, exc: Exception) -> Response:
        # nobody reads this answer: one line at info level, no trace (a stalled client is not our failure)
        log.info("client disconnected before sending its whole request: %s %s", request.method, request.url.path)
        return _error(400, "client-disconnected", "the client disconnected")

    async def audit_refused(_: Request, exc: Exception) -> Response:
        return _error(400, "bad-request", str(exc))

    async def audit_unavailable(_: Request, exc: Exception) -> Response:
        log.error("audit store failure: %s", exc)
        return _error(503, "audit-unavailable", "the audit store is unavailable; try again later")

    async def validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(400, "bad-request", "invalid request: " + ", ".join(_invalid(e) for e in exc.errors()[:3]))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _error(exc.status_code, "http-error", str(exc.detail), dict(exc.headers or {}))

    async def internal(_: Request, exc: Exception) -> Response:
        log.error("internal error: %s", type(exc).__name__)
        # Starlette runs the catch-all handler in ServerErrorMiddleware, outside SecurityHeaders and CORS: set both
        # here, so a browser-based EHR can still read the reason (every origin is allowed anyway).
        headers = {**SECURITY_HEADERS, "Access-Control-Allow-Origin": "*"}
        return _error(500, "internal-error", "the service failed to answer; the incident was logged", headers)

    app.add_exception_handler(HookRequestError, bad_request)
    app.add_exception_handler(BundleError, bad_request)
    app.add_exception_handler(HookAuthError, unauthorized)
    app.add_exception_handler(FhirServerNotAllowed, forbidden)
    app.add_exception_handler(ServiceNotFoundError, not_found)
    app.add_exception_handler(UnknownCardError, unknown_card)
    app.add_exception_handler(RequestTooLargeError, too_large)
    app.add_exception_handler(RequestTimeoutError, body_timeout)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(AuditRequestError, audit_refused)
    app.add_exception_handler(AuditError, audit_unavailable)
    web_statuses: dict[type[WebError], int] = {
        BadAuditRequestError: 400,
        AccessDeniedError: 401,
        CardNotFoundError: 404,
        StaticFileNotFoundError: 404,
        TooManyLoginsError: 429,
        AuditUnavailableError: 503,
    }

    async def web_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return render(exc, web_statuses[type(exc)])

    for web_error_type in web_statuses:
        app.add_exception_handler(web_error_type, web_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)


_SAYS_NO_VALUE = frozenset({"value_error", "greater_than_equal", "less_than_equal", "string_too_long", "enum"})


def _invalid(error: Any) -> str:
    """Where a request was invalid, and why when the message cannot quote the value (ours, or a bound's)."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where} ({error['msg']})" if error.get("type") in _SAYS_NO_VALUE else where


# As the ASGI message holds them (names in lower case), encoded once instead of on every response.
_SECURITY_HEADER_LINES: Final = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task and a stream per request on the hook path). A header
    the response already has is left as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                present = {name for name, _ in headers}
                message["headers"] = [*headers, *[line for line in _SECURITY_HEADER_LINES if line[0] not in present]]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HookCalls:
    """The hook call (POST /cds-services/{id}) answered past the layers that do nothing for it: FastAPI's routing
    (one route can match), its dependency exit stacks (the route has none), and the telemetry and body-limit layers
    (skipped only when neither is active on the request). The same route handler, user middleware (CORS, security
    headers), exception handlers and 500 handler answer it, in the same order; every other request goes through
    `full`, the app's own stack."""

    def __init__(self, app: FastAPI, full: ASGIApp) -> None:
        assert app.max_body_size is None, "the hook routes cap their bodies themselves (`read_capped`)"
        self.full = full
        # the route as `create_app` includes it (no prefix, no dependency), the first a POST to its path matches
        route = next(r for r in hooks_router.routes if isinstance(r, APIRoute) and r.endpoint is call_service)
        self.route = route
        self.path = route.path_regex
        handle = route.get_route_handler()

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handle(Request(scope, receive, send))
            await response(scope, receive, send)

        # as FastAPI's `build_middleware_stack` splits them: the catch-all goes to the outermost layer
        handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
        inner: ASGIApp = ExceptionMiddleware(answer, handlers=handlers, debug=app.debug)
        for middleware in reversed(app.user_middleware):
            inner = middleware.cls(inner, *middleware.args, **middleware.kwargs)
        catch_all = app.exception_handlers.get(Exception, app.exception_handlers.get(500))
        self.fast = ServerErrorMiddleware(inner, handler=catch_all, debug=app.debug)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and "fastapi.telemetry" not in scope  # FastAPI's own telemetry traces this request
            and MAX_BODY_SIZE_SCOPE_KEY not in scope
            and (found := self.path.match(scope["path"])) is not None
        ):
            scope.update(path_params=found.groupdict(), endpoint=call_service, route=self.route)
            await self.fast(scope, receive, send)
        else:
            await self.full(scope, receive, send)


class _TrialScreenApp(FastAPI):
    """FastAPI with the hook call's shortcut (`HookCalls`) in front of its middleware stack, built at the first
    request as Starlette builds it, so every route and middleware added until then is in both."""

    def build_middleware_stack(self) -> ASGIApp:
        return HookCalls(self, super().build_middleware_stack())


def create_app(settings: Settings, screener: Screener | None = None, sites: Sites | None = None) -> FastAPI:
    """Trials and the site configuration are loaded and checked here, before the first request (unless the
    caller, `serve`, already has them): a bad trial file or site configuration fails the start."""
    screener = screener or load_screener(settings.trials_dir)
    sites = sites if sites is not None else load_sites(settings.sites_file, screener.versions())
    http = http_client(settings.fhir_request_timeout_seconds)
    if (database_file := sqlite_file(settings.database_url)) is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    audit = AuditStore(settings.database_url)
    secret = settings.link_secret.get_secret_value().encode() if settings.link_secret else secrets.token_bytes(32)
    links = LinkSigner(secret, settings.public_url)
    body_limits = BodyLimits(settings.max_request_bytes, settings.body_timeout_seconds)
    demo = []
    if settings.demo:  # the demo patients and page (their YAML, ~30 ms of the start) only in the demo
        from service.demo.patients import load_demo_patients

        demo = load_demo_patients(dt.date.today())
    verifier = (
        JwtVerifier(
            settings.trusted_issuers,
            http,
            audit.seen_tokens,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        )
        if settings.require_jwt
        else None
    )
    hooks = HookServices(
        screener=screener,
        fhir=FhirClient(
            http,
            settings.allowed_fhir_servers,
            page_cap=settings.fhir_page_cap,
            request_timeout=settings.fhir_request_timeout_seconds,
        ),
        verifier=verifier,
        audit=audit,
        hook_url=settings.hook_url,
        budget_seconds=settings.hook_budget_seconds,
        body_limits=body_limits,
        embedded={p.key: p.record for p in demo},
        report_link=links.report_url,
        sites=sites,
        ruled_out_cards=settings.ruled_out_cards,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        audit.migrate()
        threading.Thread(target=units.warm_up, name="ucum-warm-up", daemon=True).start()
        tune_for_serving()
        try:
            yield
        finally:
            await http.aclose()
            audit.close()

    app = _TrialScreenApp(
        title="trial-screen",
        version=SERVICE_VERSION,
        description="CDS Hooks service that pre-screens patients for CAR-T trials in refractory autoimmune disease.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,  # served by _serve_api_docs from packaged assets: a hospital network may have no internet
        redoc_url=None,
    )
    app.state.hooks = hooks
    token = settings.audit_token.get_secret_value() if settings.audit_token else None
    guard = AuditGuard(token, secure_cookie=settings.public_url.lower().startswith("https://"))
    app.state.audit_web = AuditWeb(audit, guard, links, tuple(sorted(screener.versions())))
    # read by operators' scripts and the tests: the settings in force, the audit store, the link signer
    app.state.settings = settings
    app.state.audit = audit
    app.state.links = links
    _install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    app.include_router(hooks_router)

    @app.get("/health", tags=["Operations"], summary="Liveness, and the audit queue's state")
    def health() -> dict[str, Any]:
        return {"status": "ok", "audit": audit.health()}

    _document_hook_bodies(app)
    _serve_api_docs(app)
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    # open only in the demo, or when an operator turned JWT checks off and set no API token either
    open_screening = settings.demo or (verifier is None and api_token is None)
    screening_auth = None if open_screening else bearer_check(verifier, api_token, f"{settings.public_url}/screening")
    app.include_router(screening_router(screener, body_limits, screening_auth))
    app.include_router(audit_api_router)
    app.include_router(audit_pages_router)
    if settings.demo:
        from service.web.demo import create_router as demo_router

        app.include_router(demo_router(demo, screener, audit_token_set=token is not None))
    return app


def _serve_api_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its scripts and styles from the `swagger-ui-py` package, never a CDN.

    The package is located, not imported (its import loads web-framework adapters we do not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None, "swagger-ui-py is a dependency"
    assert spec.submodule_search_locations
    assets = Path(spec.submodule_search_locations[0]) / "static"
    app.mount("/docs/assets", StaticFiles(directory=assets), name="swagger-ui-assets")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def _document_hook_bodies(app: FastAPI) -> None:
    """Add the CDS Hooks body schemas (read raw by the routes) to the generated OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(openapi_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
