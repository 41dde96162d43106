"""The patient-view hook against a real FHIR server (SEKMET), seeded with Synthea bundles and a patient of ours.

Without prefetch the service searches over HTTP (paged: the page size is forced small here) and with a full
prefetch (the discovery's templates run by the test itself) it must give the same cards; the EHR's bearer
token reaches the server; a fhirServer outside the allow-list is refused and never contacted; every trial
card returned is in the audit store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

import service.app as app_module
from bench.fhir_server import created_id, seed_transaction
from service.app import create_app
from service.demo.builder import transaction_bundle
from service.fhir_access.client import FhirClient
from service.settings import Settings
from tests.integration.hook_support import (
    HOOK_PATH,
    assert_no_confident_eligible,
    assert_valid_cds_response,
    card_key,
    fetch_prefetch,
    hook_body,
    serve_app,
    shared_screener,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)
from tests.paths import SYNTHEA

pytestmark = [pytest.mark.integration]

SYNTHEA_PATIENTS = ("03-asa-hermiston.json", "08-lekisha-wilderman.json")
OWN = "own-sle"
BEARER_TOKEN = "a-test-token"  # tests/integration/conftest.py
PAGE_SIZE = 25


@cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _seed_own(base: str, token: str | None = None) -> str:
    own = transaction_bundle(sle_patient_resources())
    return created_id(seed_transaction(base, own, token), own, "Patient")


def _seed_all(base: str, token: str | None = None) -> dict[str, str]:
    """support/*.json, then 03 and 08, then our own patient: name → server-assigned Patient id."""
    for support in sorted((SYNTHEA / "support").glob("*.json")):
        seed_transaction(base, _load(support), token)
    ids = {}
    for name in SYNTHEA_PATIENTS:
        body = _load(SYNTHEA / name)
        ids[name] = created_id(seed_transaction(base, body, token), body, "Patient")
    ids[OWN] = _seed_own(base, token)
    return ids


@pytest.fixture(scope="module")
def seeded(fhir_server: str) -> dict[str, str]:
    return _seed_all(fhir_server)


class _PagedClient(FhirClient):
    """The product's client with a small page size (so paging really happens) that counts its GETs."""

    gets: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["page_size"] = PAGE_SIZE
        super().__init__(*args, **kwargs)

    async def _get_json(self, url: str, params: Any, token: Any, *, base_url: str, what: str) -> dict[str, Any]:
        _PagedClient.gets.append(url if params is not None else f"{url} (next page)")
        return await super()._get_json(url, params, token, base_url=base_url, what=what)


@pytest.fixture
def client_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(app_module, "FhirClient", _PagedClient)
    _PagedClient.gets = []
    opened: list[TestClient] = []

    def make(allowed: list[str]) -> TestClient:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/audit-{len(opened)}.sqlite3",
            require_jwt=False,
            allowed_fhir_servers=allowed,
            hook_budget_seconds=30,
            fhir_request_timeout_seconds=15,
        )
        client = TestClient(create_app(settings, shared_screener()))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _call(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(HOOK_PATH, json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert_valid_cds_response(payload)
    return payload


def _assert_audited(client: TestClient, payload: dict[str, Any], patient_id: str) -> None:
    audit = client.app.state.audit  # type: ignore[attr-defined]
    for card in trial_cards(payload):
        stored = audit.get_card(card["uuid"])
        assert stored is not None, f"card {card['uuid']} not in the audit store"
        assert stored.patient_ref == f"Patient/{patient_id}"
        assert stored.trial_id == card["source"]["topic"]["code"]
        assert stored.summary == card["summary"]


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("name", [*SYNTHEA_PATIENTS, OWN])
async def test_fetch_and_prefetch_give_the_same_cards(
    client_for: Any, fhir_server: str, seeded: dict[str, str], name: str
) -> None:
    client = client_for([fhir_server])
    patient_id = seeded[name]

    fetched = _call(client, hook_body(patient_id, fhir_server=fhir_server))
    searches = list(_PagedClient.gets)
    prefetch = await fetch_prefetch(fhir_server, patient_id)
    assert prefetch["patient"]["id"] == patient_id
    _PagedClient.gets = []
    prefetched = _call(client, hook_body(patient_id, prefetch=prefetch, fhir_server=fhir_server))

    assert _PagedClient.gets == [], "a full prefetch must not cause any FHIR request"
    assert any("/Patient/" in url for url in searches)
    assert any("/Observation" in url for url in searches)
    assert warning_cards(fetched) == []
    assert warning_cards(prefetched) == []
    assert {card_key(c) for c in fetched["cards"]} == {card_key(c) for c in prefetched["cards"]}
    assert len(fetched["cards"]) == len(prefetched["cards"])
    for payload in (fetched, prefetched):
        _assert_audited(client, payload, patient_id)
    if name == OWN:
        assert trial_cards(fetched), "our SLE patient should be (possibly) eligible for at least one trial"
        assert any(c["summary"].startswith("Eligible") for c in fetched["cards"])
    else:
        # Synthea patients have hundreds of Observations: the search was paged.
        assert any(url.endswith("(next page)") for url in searches), searches


def test_bearer_token_reaches_the_fhir_server(client_for: Any, fhir_server_bearer: str) -> None:
    patient_id = _seed_own(fhir_server_bearer, BEARER_TOKEN)  # the Synthea data are seeded on the plain server
    client = client_for([fhir_server_bearer])

    good = _call(client, hook_body(patient_id, fhir_server=fhir_server_bearer, token=BEARER_TOKEN))
    assert warning_cards(good) == []
    assert trial_cards(good)
    _assert_audited(client, good, patient_id)

    for token in ("wrong-token", None):
        bad = _call(client, hook_body(patient_id, fhir_server=fhir_server_bearer, token=token))
        assert warning_cards(bad), bad
        assert_no_confident_eligible(bad)
        assert "401" in json.dumps(bad) or "403" in json.dumps(bad)
        _assert_audited(client, bad, patient_id)


@pytest.fixture
def counting_stub() -> Iterator[tuple[str, list[str], str]]:
    """Two loopback stubs: `allowed` redirects everything to `outside`; both count hits."""
    hits: list[str] = []
    outside_port: list[str] = []

    async def outside(request: Request) -> JSONResponse:
        hits.append(f"outside {request.url.path}")
        return JSONResponse({"resourceType": "Patient", "id": "p1"})

    async def redirect(request: Request) -> RedirectResponse:
        hits.append(f"allowed {request.url.path}")
        return RedirectResponse(f"{outside_port[0]}{request.url.path}", status_code=302)

    out_app = Starlette(routes=[Route("/{path:path}", outside)])
    red_app = Starlette(routes=[Route("/{path:path}", redirect)])
    with serve_app(out_app) as out_url, serve_app(red_app) as red_url:
        outside_port.append(out_url)
        yield f"{red_url}/fhir", hits, f"{out_url}/fhir"


def test_fhir_server_outside_the_allow_list_is_never_contacted(
    client_for: Any, fhir_server: str, counting_stub: tuple[str, list[str], str]
) -> None:
    redirecting, hits, outside = counting_stub
    client = client_for([fhir_server, redirecting])

    for server in (outside, outside + "/../../other", "http://127.0.0.1:1/fhir", fhir_server + "evil"):
        response = client.post(HOOK_PATH, json=hook_body("p1", fhir_server=server))
        assert response.status_code == 403, response.text
        assert response.json().get("reason")
    assert hits == []

    # An allowed server that redirects outside: the redirect is not followed.
    payload = _call(client, hook_body("p1", fhir_server=redirecting))
    assert warning_cards(payload)
    assert_no_confident_eligible(payload)
    assert hits, "the allowed (redirecting) stub was not called"
    assert all(hit.startswith("allowed") for hit in hits), hits
