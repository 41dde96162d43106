"""POST /screening takes a patient's record: with JWT checks on it needs the API token or an EHR's JWT whose
audience is the screening endpoint; only with JWT checks off (`serve --demo`) is it open."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi.testclient import TestClient

from tests.e2e.conftest import HOOK_URL, PUBLIC_URL, Ehr
from tests.e2e.test_hostile_inputs import CALL

BUNDLE = orjson.dumps(
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": CALL["prefetch"]["patient"]}]}
)
API_TOKEN = "screening-api-token"


def test_screening_needs_a_credential_when_jwt_checks_are_on(make_client: Callable[..., TestClient], ehr: Ehr) -> None:
    client = make_client(api_token=API_TOKEN)

    def post(authorization: str | None) -> tuple[int, str]:
        headers = {"Authorization": authorization} if authorization else {}
        response = client.post("/screening", content=BUNDLE, headers=headers)
        return response.status_code, response.json().get("reason", "")

    assert post(None) == (401, "missing bearer token")
    assert post("Bearer not-the-token")[0] == 401
    assert post(f"Bearer {ehr.token(audience=HOOK_URL)}") == (401, "audience mismatch")
    assert post(f"Bearer {API_TOKEN}")[0] == 200
    assert post(f"Bearer {ehr.token(audience=f'{PUBLIC_URL}/screening')}")[0] == 200


def test_without_an_api_token_only_an_ehr_jwt_opens_it(make_client: Callable[..., TestClient], ehr: Ehr) -> None:
    client = make_client()
    assert client.post("/screening", content=BUNDLE, headers={"Authorization": "Bearer "}).status_code == 401
    headers = {"Authorization": f"Bearer {ehr.token(audience=f'{PUBLIC_URL}/screening')}"}
    assert client.post("/screening", content=BUNDLE, headers=headers).status_code == 200


def test_demo_mode_leaves_it_open(make_client: Callable[..., TestClient]) -> None:
    assert make_client(require_jwt=False).post("/screening", content=BUNDLE).status_code == 200
