"""Who may read the audit trail: the audit token as a bearer token, or a session cookie from logging in with it.

The session cookie is a random nonce signed with its issue time by itsdangerous, keyed by the audit token (never
the token itself), so changing the token ends every session. Sessions are stateless: logging out clears the
cookie in the browser, and a copied cookie stays valid until it expires (8 hours).
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE: Final = "trial_screen_audit"
SESSION_SECONDS: Final = 8 * 60 * 60
_SESSION_SALT: Final = "trial-screen/audit-session/v1"
_MAX_COOKIE_CHARS: Final = 200
LOGIN_FAILURES_ALLOWED: Final = 5  # per client address within LOGIN_WINDOW_SECONDS; then locked out as long
LOGIN_WINDOW_SECONDS: Final = 15 * 60
_ADDRESSES_TRACKED: Final = 10_000  # memory bound: the oldest address is forgotten first


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    reason: str  # why not, when not allowed
    token_given: bool  # a bearer token was presented (a refusal then says invalid_token)


class LoginThrottle:
    """Failed logins per client address: after `allowed` failures within `window` seconds, that address may not
    try again until the oldest of them is `window` seconds old. Per process (each worker counts its own)."""

    def __init__(
        self,
        allowed: int = LOGIN_FAILURES_ALLOWED,
        window: float = LOGIN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allowed, self._window, self._clock = allowed, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_seconds(self, address: str) -> int:
        """0 if the address may try now; otherwise how many seconds until it may."""
        with self._lock:
            failures = self._recent(address)
            if len(failures) < self._allowed:
                return 0
            return max(1, math.ceil(failures[0] + self._window - self._clock()))

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(self._clock())
            self._failures.move_to_end(address)
            while len(self._failures) > _ADDRESSES_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= self._clock() - self._window:
            failures.popleft()
        return failures


class AuditGuard:
    def __init__(self, token: str | None, *, secure_cookie: bool, throttle: LoginThrottle | None = None) -> None:
        self._token = token.encode() if token else None
        self._sessions = URLSafeTimedSerializer(token, salt=_SESSION_SALT) if token else None
        self.secure_cookie = secure_cookie
        self.logins = throttle or LoginThrottle()

    @property
    def configured(self) -> bool:
        return self._token is not None

    def token_ok(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(given.encode(), self._token)

    def new_session(self) -> str:
        assert self._sessions is not None, "no audit token: no sessions"
        return self._sessions.dumps(secrets.token_hex(16))

    def session_ok(self, value: str | None) -> bool:
        if self._sessions is None or not value or len(value) > _MAX_COOKIE_CHARS:
            return False
        try:
            self._sessions.loads(value, max_age=SESSION_SECONDS)
        except BadSignature:  # also SignatureExpired
            return False
        return True

    def check(self, request: Request, presented: HTTPAuthorizationCredentials | None) -> Access:
        if not self.configured:
            return Access(False, "the audit API is disabled: no audit token is configured", False)
        if presented is not None:
            if self.token_ok(presented.credentials):
                return Access(True, "", True)
            return Access(False, "invalid bearer token", True)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            if self.session_ok(cookie):
                return Access(True, "", False)
            return Access(False, "the audit session is invalid or has expired; log in again", False)
        return Access(False, "a bearer token or an audit session is required", False)


_bearer_scheme = HTTPBearer(auto_error=False, description="The audit token (TRIAL_SCREEN_AUDIT_TOKEN)")
_cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Session from POST /audit/login")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)]
SessionCookie = Annotated[str | None, Security(_cookie_scheme)]
