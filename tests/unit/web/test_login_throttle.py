"""Guessing the audit token through the login form: after five failures from one address, that address is
refused (429 with Retry-After), even with the right token, until the window has passed; other addresses and a
successful login are unaffected."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.web.audit_access import LOGIN_FAILURES_ALLOWED, LoginThrottle
from tests.integration.hook_support import shared_screener

TOKEN = "the-audit-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_login_form_locks_an_address_out_after_five_failures(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/a.sqlite3", require_jwt=False, audit_token=TOKEN)
    with TestClient(create_app(settings, shared_screener())) as client:

        def login(token: str) -> int:
            return client.post("/audit/login", data={"token": token}, follow_redirects=False).status_code

        assert login(TOKEN) == 303  # the favourable case: the right token logs in
        for _ in range(LOGIN_FAILURES_ALLOWED):
            assert login("guess") == 401
        locked = client.post("/audit/login", data={"token": TOKEN}, follow_redirects=False)
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        assert "Too many failed logins" in locked.text


def test_the_lock_out_ends_with_the_window_and_is_per_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(allowed=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.wait_seconds("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 60
    assert throttle.wait_seconds("10.0.0.2") == 0
    clock.now += 30
    assert throttle.wait_seconds("10.0.0.1") == 30
    clock.now += 30
    assert throttle.wait_seconds("10.0.0.1") == 0


def test_a_successful_login_clears_the_failures() -> None:
    throttle = LoginThrottle(allowed=2, window=60, clock=Clock())
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.wait_seconds("a") == 0
