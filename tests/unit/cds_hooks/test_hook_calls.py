"""The hook call's short way through the app (`service.app.HookCalls`) answers every request it takes exactly as
the app's full stack does: status, headers in their order, and body."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from cds_hooks import routes
from service.app import HookCalls, create_app
from service.screening import uuids
from service.settings import Settings
from tests.integration.hook_support import HOOK_PATH, hook_body, prefetch_for, shared_screener, sle_patient_resources

RESOURCES = sle_patient_resources("fast-path")
NEVER = re.compile(r"(?!)")


class _Both:
    """One app, each request sent twice: by the short way, then with it turned off (the full stack)."""

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client, self.monkeypatch = client, monkeypatch
        stack = client.app.middleware_stack  # type: ignore[attr-defined]
        assert isinstance(stack, HookCalls)
        self.stack, self.taken = stack, [0, 0]
        full, fast = stack.full, stack.fast

        async def counted_full(scope: Scope, receive: Receive, send: Send) -> None:
            self.taken[1] += 1
            await full(scope, receive, send)

        async def counted_fast(scope: Scope, receive: Receive, send: Send) -> None:
            self.taken[0] += 1
            await fast(scope, receive, send)

        monkeypatch.setattr(stack, "full", counted_full)
        monkeypatch.setattr(stack, "fast", counted_fast)

    def post(self, path: str, **kwargs: Any) -> tuple[Any, Any]:
        answers = []
        for short_way in (True, False):
            # the same card and suggestion uuids both times (the audit is not written: the uuids repeat)
            rng = random.Random(7)
            self.monkeypatch.setattr(uuids, "os", SimpleNamespace(urandom=rng.randbytes))
            with self.monkeypatch.context() as patch:
                if not short_way:
                    patch.setattr(self.stack, "path", NEVER)
                answers.append(self.client.post(path, **kwargs))
        return answers[0], answers[1]


def _same(fast: Any, full: Any) -> None:
    assert fast.status_code == full.status_code
    assert fast.headers.raw == full.headers.raw
    assert fast.content == full.content


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Both]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/audit.sqlite3", require_jwt=False, max_request_bytes=200_000
    )
    app = create_app(settings, shared_screener())
    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(app.state.audit, "submit_cards", lambda records, *_: True)
        yield _Both(client, monkeypatch)


BODY = hook_body(RESOURCES[0]["id"], prefetch=prefetch_for(RESOURCES))


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        (HOOK_PATH, {"json": BODY}, 200),
        (HOOK_PATH, {"json": BODY, "headers": {"Origin": "https://ehr.example.org"}}, 200),
        (HOOK_PATH, {"json": hook_body("nobody")}, 200),  # no prefetch, no FHIR server: a warning card
        (HOOK_PATH, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        (HOOK_PATH, {"json": {**BODY, "hook": "order-select"}}, 400),
        (HOOK_PATH, {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 400),
        (HOOK_PATH, {"content": b" " * 200_001, "headers": {"Content-Type": "application/json"}}, 413),
        ("/cds-services/no-such-service", {"json": BODY}, 404),
    ],
    ids=["cards", "cors", "warning", "bad-json", "other-hook", "content-type", "too-large", "unknown-service"],
)
def test_the_short_way_answers_as_the_full_stack(both: _Both, path: str, kwargs: dict[str, Any], status: int) -> None:
    fast, full = both.post(path, **kwargs)
    assert both.taken == [1, 1]
    assert fast.status_code == status, fast.text
    _same(fast, full)
    if status == 200:
        assert orjson.loads(fast.content)["cards"]


def test_an_unexpected_error_is_the_same_500(both: _Both, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "gather_record", broken)
    fast, full = both.post(HOOK_PATH, json=BODY)
    assert fast.status_code == 500
    _same(fast, full)


@pytest.mark.parametrize("path", ["/cds-services", f"{HOOK_PATH}/feedback", f"{HOOK_PATH}/", "/health"])
def test_other_requests_take_the_full_stack(both: _Both, path: str) -> None:
    both.client.post(path, json={}, follow_redirects=False)  # the trailing slash: a redirect to the hook's path
    both.client.get(HOOK_PATH)
    assert both.taken == [0, 2]


def test_with_jwt_checks_a_missing_token_is_the_same_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/audit.sqlite3", require_jwt=True)
    with TestClient(create_app(settings, shared_screener())) as client:
        both = _Both(client, monkeypatch)
        fast, full = both.post(HOOK_PATH, json=BODY)
    assert both.taken == [1, 1]
    assert fast.status_code == 401
    _same(fast, full)
