"""Tokens and PHI never reach the logs: all logging (DEBUG, root + uvicorn) and stdout/stderr are captured
while hook calls, good and failing, run against a real uvicorn server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.e2e.conftest import PUBLIC_URL, Ehr
from tests.integration.hook_support import (
    BIRTH_DATE,
    FEEDBACK_PATH,
    HOOK_PATH,
    PATIENT_NAME,
    hook_body,
    prefetch_for,
    serve_app,
    serve_guarded_fhir,
    shared_screener,
    sle_patient_resources,
    trial_cards,
)
from tests.jwt_keys import unsigned_token

FHIR_TOKEN = "fhir-token-ZqX81vSECRETmarker"
RESOURCES = sle_patient_resources("log-patient")
LOGGERS = (
    "",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "trial_screen",
    "cds_hooks",
    "service",
)


@pytest.fixture
def stub_fhir() -> Iterator[str]:
    with serve_guarded_fhir(FHIR_TOKEN, RESOURCES) as url:
        yield url


def test_no_tokens_or_phi_in_logs(
    tmp_path: Path,
    ehr: Ehr,
    stub_fhir: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for name in LOGGERS:
        logging.getLogger(name).addHandler(caplog.handler)
        caplog.set_level(logging.DEBUG, logger=name or None)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/audit.sqlite3",
        require_jwt=True,
        trusted_issuers={ehr.issuer: ehr.jwks_url},
        public_url=PUBLIC_URL,
        allowed_fhir_servers=[stub_fhir],
        hook_budget_seconds=5,
    )
    secrets: list[str] = [FHIR_TOKEN, PATIENT_NAME, *PATIENT_NAME.replace(",", "").split(), BIRTH_DATE]
    patient_id = RESOURCES[0]["id"]
    statuses: list[int] = []
    try:
        with (
            serve_app(create_app(settings, shared_screener()), log_level="debug") as base,
            httpx.Client(base_url=base, timeout=20) as http,
        ):

            def post(body: dict[str, object], token: str | None, path: str = HOOK_PATH) -> httpx.Response:
                if token is not None:
                    secrets.append(token)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = http.post(path, json=body, headers=headers)
                statuses.append(response.status_code)
                return response

            with_prefetch = hook_body(
                patient_id, prefetch=prefetch_for(RESOURCES), fhir_server=stub_fhir, token=FHIR_TOKEN
            )
            ok = post(with_prefetch, ehr.token())
            post(hook_body(patient_id, fhir_server=stub_fhir, token=FHIR_TOKEN), ehr.token())  # fetched over HTTP
            post(hook_body(patient_id, fhir_server=stub_fhir, token=FHIR_TOKEN + "-wrong"), ehr.token())  # FHIR 401
            secrets.append(FHIR_TOKEN + "-wrong")
            post(hook_body(patient_id, fhir_server="http://127.0.0.1:1/fhir", token=FHIR_TOKEN), ehr.token())  # 403
            post(with_prefetch, unsigned_token({"iss": ehr.issuer, "aud": "x"}))  # 401: alg none
            post(with_prefetch, ehr.token(audience="https://elsewhere.example.org"))  # 401: wrong aud
            bad = dict(with_prefetch)
            bad.pop("hookInstance")
            post(bad, ehr.token())  # 400, the body still holds the FHIR token and the patient
            feedback = {
                "feedback": [
                    {
                        "card": trial_cards(ok.json())[0]["uuid"],
                        "outcome": "overridden",
                        "outcomeTimestamp": "2026-11-23T10:00:00Z",
                    }
                ]
            }
            post(feedback, ehr.token(), FEEDBACK_PATH)
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(caplog.handler)

    assert statuses == [200, 200, 200, 403, 401, 401, 400, 200], statuses
    captured = capfd.readouterr()
    logs = "\n".join(r.getMessage() + " " + repr(r.__dict__) for r in caplog.records)
    everything = f"{logs}\n{captured.out}\n{captured.err}"
    assert caplog.records, "nothing was logged: the capture is not working"
    assert "/cds-services/trial-prescreen" in everything, "the access log was not captured"
    for secret in secrets:
        assert secret not in everything, f"a secret or PHI item leaked into the logs: {secret[:12]}…"
    assert "Bearer " not in everything
