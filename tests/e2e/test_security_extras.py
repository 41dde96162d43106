"""Security checks not covered elsewhere: security headers on every kind of response, no token or PHI in logs.

Already covered, so not repeated here: the JWT matrix incl. an unknown `kid` (test_jwt_e2e.py), security headers
on discovery / hook / 400 / 404 (test_hook_protocol.py), audit API and pages without or with a wrong token → 401
(tests/unit/web/test_audit_api.py), a `fhirServer` outside the allow-list incl. via redirect
(tests/integration/test_hook_against_fhir.py, tests/unit/fhir_access), logs of an in-process server
(test_no_secrets_in_logs.py).

Here: the security headers on every other kind of response (audit API and pages, CSV export, reports, screening,
feedback, 405, 413 and an internal error), and the log output of `trial-screen serve` as a real subprocess at its
own info level during a run with real tokens: no bearer JWT, no fhirAuthorization access_token, no audit token,
no `Authorization` header value, no PHI (name, birth date, patient id: httpx logs request URLs at INFO).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.screening.screen import Screener
from service.web.audit_access import SESSION_COOKIE
from tests.e2e.conftest import PUBLIC_URL, Ehr
from tests.integration.hook_support import (
    BIRTH_DATE,
    FEEDBACK_PATH,
    HOOK_PATH,
    PATIENT_NAME,
    free_port,
    hook_body,
    prefetch_for,
    serve_guarded_fhir,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)
from tests.jwt_keys import hook_claims, make_rsa_keypair, sign_token, unsigned_token

RESOURCES = sle_patient_resources("pid-Z8secx-4411")
PATIENT_ID = RESOURCES[0]["id"]
AUDIT_TOKEN = "audit-token-Kq7VsecretMARKER-0123456789abcdef"
FHIR_TOKEN = "fhir-access-token-Wp3ZsecretMARKER"
TRIAL_SCREEN = Path(sys.executable).parent / "trial-screen"


def _assert_security_headers(response: Any, *, no_store: bool = True) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("referrer-policy"), where
    if no_store:
        assert "no-store" in response.headers.get("cache-control", ""), where


def test_security_headers_on_every_kind_of_response(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAL_SCREEN_MAX_REQUEST_BYTES", str(64 * 1024))
    client = make_client(require_jwt=False, audit_token=AUDIT_TOKEN)
    auth = {"Authorization": f"Bearer {AUDIT_TOKEN}"}
    issued = client.post(HOOK_PATH, json=hook_body(PATIENT_ID, prefetch=prefetch_for(RESOURCES)))
    assert issued.status_code == 200, issued.text
    card = trial_cards(issued.json())[0]
    report_link = next(link["url"] for link in card["links"] if "/reports/" in link["url"])
    feedback = {
        "feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}]
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": RESOURCES[0]}]}

    checks = [
        (client.post(FEEDBACK_PATH, json=feedback), 200),
        (client.get("/audit/cards"), 401),
        (client.get("/audit/cards", headers={"Authorization": "Bearer wrong"}), 401),
        (client.get("/audit/cards", headers=auth), 200),
        (client.get(f"/audit/cards/{card['uuid']}", headers=auth), 200),
        (client.get("/audit/cards.csv", headers=auth), 200),
        (client.get("/audit"), 401),
        (client.get("/audit", headers=auth), 200),
        (client.get(f"/audit/cards/{card['uuid']}/view", headers=auth), 200),
        (client.get("/audit/login"), 200),
        (client.post("/audit/login", data={"token": "wrong"}, follow_redirects=False), 401),
        (client.get(f"/reports/{card['uuid']}"), 401),
        (client.get(report_link.removeprefix(PUBLIC_URL)), 200),
        (client.post("/screening", json=bundle), 200),
        (client.post("/screening", content=b" " * (128 * 1024), headers={"Content-Type": "application/json"}), 413),
        (client.put(HOOK_PATH, json={}), 405),
        (client.get("/openapi.json"), 200),
    ]
    for response, status in checks:
        assert response.status_code == status, (response.request.url.path, response.status_code, response.text[:300])
        _assert_security_headers(response)
    static = client.get("/audit/static/audit.css")
    assert static.status_code == 200
    _assert_security_headers(static, no_store=False)  # a public stylesheet may be cached

    # An internal error (here: the screening engine failing) is answered by Starlette's outermost error middleware,
    # outside the app's middlewares: it must still carry the headers, and no detail.
    def failing(*_: Any, **__: Any) -> None:
        raise RuntimeError("screening failed")

    monkeypatch.setattr(Screener, "screen_for_cards", failing)
    broken = client.post(HOOK_PATH, json=hook_body(PATIENT_ID, prefetch=prefetch_for(RESOURCES)))
    assert broken.status_code == 500, broken.text
    assert broken.json()["error"] == "internal-error"
    assert "screening failed" not in broken.text
    _assert_security_headers(broken)
    assert broken.headers["access-control-allow-origin"] == "*"  # a browser EHR can read the reason


# -- the real process's log output ------------------------------------------------------------------------------


@pytest.fixture
def stub_fhir() -> Iterator[str]:
    with serve_guarded_fhir(FHIR_TOKEN, RESOURCES) as url:
        yield url


@pytest.fixture
def served(tmp_path: Path, ehr: Ehr, stub_fhir: str) -> Iterator[tuple[str, Path, Path]]:
    """`trial-screen serve` with JWT on, the FHIR stub allowed and an audit token; stdout and stderr to files."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    env.update(
        TRIAL_SCREEN_DATABASE_URL=f"sqlite:///{tmp_path}/audit.sqlite3",
        TRIAL_SCREEN_REQUIRE_JWT="true",
        TRIAL_SCREEN_TRUSTED_ISSUERS=json.dumps({ehr.issuer: ehr.jwks_url}),
        TRIAL_SCREEN_PUBLIC_URL=PUBLIC_URL,
        TRIAL_SCREEN_ALLOWED_FHIR_SERVERS=stub_fhir,
        TRIAL_SCREEN_AUDIT_TOKEN=AUDIT_TOKEN,
        TRIAL_SCREEN_HOOK_BUDGET_SECONDS="5",
    )
    out_path, err_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [str(TRIAL_SCREEN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, err_path.read_text()
            try:
                if httpx.get(f"{base}/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"trial-screen serve did not start:\n{err_path.read_text()}"
            time.sleep(0.1)
        yield base, out_path, err_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_serve_logs_hold_no_tokens_or_phi(ehr: Ehr, stub_fhir: str, served: tuple[str, Path, Path]) -> None:
    base, out_path, err_path = served
    secrets: list[str] = [AUDIT_TOKEN, FHIR_TOKEN, FHIR_TOKEN + "-wrong", PATIENT_NAME, BIRTH_DATE, PATIENT_ID]
    secrets += PATIENT_NAME.replace(",", "").split()
    statuses: list[int] = []

    def token(**claims: Any) -> str:
        value = ehr.token(**claims)
        secrets.extend([value, value.rsplit(".", 1)[1]])  # the whole JWT and its signature alone
        return value

    with httpx.Client(base_url=base, timeout=30) as http:

        def post(body: Any, jwt: str | None, path: str = HOOK_PATH) -> httpx.Response:
            headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}
            response = http.post(path, json=body, headers=headers)
            statuses.append(response.status_code)
            return response

        fetched = post(hook_body(PATIENT_ID, fhir_server=stub_fhir, token=FHIR_TOKEN), token())
        assert trial_cards(fetched.json()), fetched.text
        assert not warning_cards(fetched.json()), fetched.text
        refused = post(hook_body(PATIENT_ID, fhir_server=stub_fhir, token=FHIR_TOKEN + "-wrong"), token())
        assert warning_cards(refused.json()), refused.text  # the FHIR server's 401: logged as a warning
        post(hook_body(PATIENT_ID, fhir_server="http://127.0.0.1:1/fhir", token=FHIR_TOKEN), token())  # 403

        rogue = make_rsa_keypair("unknown-kid")
        for bad in (
            sign_token(rogue, hook_claims(ehr.issuer, f"{PUBLIC_URL}{HOOK_PATH}")),  # a kid the JWKS lacks
            unsigned_token(hook_claims(ehr.issuer, f"{PUBLIC_URL}{HOOK_PATH}"), headers={"kid": ehr.rsa.kid}),
        ):
            secrets.append(bad)
            post(hook_body(PATIENT_ID, fhir_server=stub_fhir, token=FHIR_TOKEN), bad)
        replayed = token()
        post(hook_body(PATIENT_ID, prefetch=prefetch_for(RESOURCES)), replayed)
        post(hook_body(PATIENT_ID, prefetch=prefetch_for(RESOURCES)), replayed)  # 401: replayed jti
        malformed = hook_body(PATIENT_ID, fhir_server=stub_fhir, token=FHIR_TOKEN)
        malformed.pop("hookInstance")
        post(malformed, token())  # 400, the body holds the FHIR token
        card = trial_cards(fetched.json())[0]["uuid"]
        feedback = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}]}
        post(feedback, token(audience=f"{PUBLIC_URL}{FEEDBACK_PATH}"), FEEDBACK_PATH)

        for headers in ({"Authorization": f"Bearer {AUDIT_TOKEN}"}, {"Authorization": f"Bearer {AUDIT_TOKEN}x"}):
            statuses.append(http.get("/audit/cards", headers=headers).status_code)
        login = http.post("/audit/login", data={"token": AUDIT_TOKEN}, follow_redirects=False)
        statuses.append(login.status_code)
        session = login.cookies.get(SESSION_COOKIE)
        assert session, login.headers
        secrets.append(session)
        statuses.append(http.post("/audit/login", data={"token": AUDIT_TOKEN + "x"}).status_code)

    assert statuses == [200, 200, 403, 401, 401, 200, 401, 400, 200, 200, 401, 303, 401], statuses
    time.sleep(0.5)  # let the server flush its last log lines
    logs = out_path.read_text(errors="replace") + "\n" + err_path.read_text(errors="replace")
    assert "Uvicorn running on" in logs, "the server's output was not captured"
    assert "incomplete data" in logs, "the info/warning-level application log was not captured"
    assert "failed login" in logs
    for secret in secrets:
        assert secret not in logs, f"a token or PHI item reached the logs: {secret[:12]}…"
    assert "Bearer " not in logs
    assert "authorization" not in logs.lower()
