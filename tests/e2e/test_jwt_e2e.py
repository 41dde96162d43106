"""CDS client JWTs end to end: real RSA/EC key pairs, the JWKS served on loopback, the whole app."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import FEEDBACK_URL, HOOK_URL, Ehr
from tests.integration.hook_support import (
    FEEDBACK_PATH,
    HOOK_PATH,
    assert_valid_cds_response,
    hook_body,
    prefetch_for,
    sle_patient_resources,
    trial_cards,
)
from tests.jwt_keys import forge_hs256, hook_claims, make_rsa_keypair, public_pem, sign_token, unsigned_token

RESOURCES = sle_patient_resources("jwt-patient")


def _body() -> dict[str, Any]:
    return hook_body(RESOURCES[0]["id"], prefetch=prefetch_for(RESOURCES))


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def _post(client: TestClient, token: str | None, path: str = HOOK_PATH, body: Any = None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post(path, json=body if body is not None else _body(), headers=headers)


def _assert_401(response: Any) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    reason = response.json().get("reason")
    assert isinstance(reason, str)
    assert reason
    assert "Traceback" not in response.text
    return reason


def test_good_rs384_token(client: TestClient, ehr: Ehr) -> None:
    response = _post(client, ehr.token(ehr.rsa))
    assert response.status_code == 200, response.text
    assert_valid_cds_response(response.json())
    assert trial_cards(response.json())


def test_good_es384_token_with_audience_array(client: TestClient, ehr: Ehr) -> None:
    token = ehr.token(ehr.ec, audience=["https://other.example.org/cds-services/x", HOOK_URL])
    response = _post(client, token)
    assert response.status_code == 200, response.text
    assert trial_cards(response.json())


def _bad_tokens(ehr: Ehr) -> dict[str, str]:
    now = time.time()
    rogue = make_rsa_keypair("rogue-kid")
    claims = hook_claims(ehr.issuer, HOOK_URL)
    return {
        "expired": sign_token(ehr.rsa, hook_claims(ehr.issuer, HOOK_URL, now=now - 3600)),
        "wrong-aud": sign_token(
            ehr.rsa, hook_claims(ehr.issuer, "https://evil.example.org/cds-services/trial-prescreen")
        ),
        "wrong-aud-array": sign_token(ehr.rsa, hook_claims(ehr.issuer, ["https://evil.example.org/a", "b"])),
        "unknown-kid": sign_token(rogue, claims),
        "known-kid-wrong-key": sign_token(rogue, hook_claims(ehr.issuer, HOOK_URL), headers={"kid": ehr.rsa.kid}),
        "untrusted-issuer": sign_token(ehr.rsa, hook_claims("https://untrusted.example.org", HOOK_URL)),
        "alg-none": unsigned_token(hook_claims(ehr.issuer, HOOK_URL), headers={"kid": ehr.rsa.kid}),
        "hs256-with-public-pem": forge_hs256(
            hook_claims(ehr.issuer, HOOK_URL), public_pem(ehr.rsa), headers={"kid": ehr.rsa.kid}
        ),
        "future-iat": sign_token(ehr.rsa, hook_claims(ehr.issuer, HOOK_URL, now=now + 3600)),
        "foreign-jku": sign_token(
            ehr.rsa, hook_claims(ehr.issuer, HOOK_URL), headers={"jku": "https://evil.example.org/jwks.json"}
        ),
        "garbage": "not.a.jwt",
    }


BAD = [
    "expired",
    "wrong-aud",
    "wrong-aud-array",
    "unknown-kid",
    "known-kid-wrong-key",
    "untrusted-issuer",
    "alg-none",
    "hs256-with-public-pem",
    "future-iat",
    "foreign-jku",
    "garbage",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_token_is_401_with_a_reason(client: TestClient, ehr: Ehr, case: str) -> None:
    token = _bad_tokens(ehr)[case]
    reason = _assert_401(_post(client, token))
    assert token not in reason


def test_missing_token_and_wrong_scheme(client: TestClient, ehr: Ehr) -> None:
    _assert_401(_post(client, None))
    response = client.post(HOOK_PATH, json=_body(), headers={"Authorization": f"Basic {ehr.token()}"})
    _assert_401(response)


def test_replayed_jti_is_refused(client: TestClient, ehr: Ehr) -> None:
    token = ehr.token()
    assert _post(client, token).status_code == 200
    reason = _assert_401(_post(client, token))
    assert "replay" in reason


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    """A bad token with a malformed body is still 401: nothing is parsed for an unauthenticated caller."""
    response = client.post(HOOK_PATH, content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_401(response)


def test_feedback_requires_a_valid_jwt(client: TestClient, ehr: Ehr) -> None:
    issued = _post(client, ehr.token())
    card = trial_cards(issued.json())[0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": "urn:trial-screen:override-reason", "code": "patient-declined"}
                },
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
            }
        ]
    }
    _assert_401(_post(client, None, FEEDBACK_PATH, feedback))
    _assert_401(_post(client, _bad_tokens(ehr)["alg-none"], FEEDBACK_PATH, feedback))
    _assert_401(_post(client, _bad_tokens(ehr)["wrong-aud"], FEEDBACK_PATH, feedback))
    assert client.app.state.audit.get_card(card["uuid"]).feedback == []  # type: ignore[attr-defined]

    for audience in (FEEDBACK_URL, HOOK_URL):
        response = _post(client, ehr.token(audience=audience), FEEDBACK_PATH, feedback)
        assert response.status_code == 200, response.text
    stored = client.app.state.audit.get_card(card["uuid"])  # type: ignore[attr-defined]
    assert [f.outcome for f in stored.feedback] == ["overridden", "overridden"]


def test_discovery_needs_no_token(client: TestClient) -> None:
    assert client.get("/cds-services").status_code == 200
