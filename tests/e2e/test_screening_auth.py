"""POST /screening takes a patient's record: outside the demo it needs the API token (when one is set) or, with
JWT checks on, an EHR's JWT whose audience is the screening endpoint."""

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
    assert (
        make_client(require_jwt=False, demo=True, api_token=API_TOKEN).post("/screening", content=BUNDLE).status_code
        == 200
    )


def test_with_jwt_checks_off_an_api_token_still_guards_it(make_client: Callable[..., TestClient]) -> None:
    client = make_client(require_jwt=False, api_token=API_TOKEN)
    assert client.post("/screening", content=BUNDLE).status_code == 401
    assert client.post("/screening", content=BUNDLE, headers={"Authorization": "Bearer wrong"}).status_code == 401
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    assert client.post("/screening", content=BUNDLE, headers=headers).status_code == 200
