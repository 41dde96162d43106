"""FHIR fault matrix: the hook against misbehaving loopback FHIR stubs.

The stub serves our SLE patient (eligible for at least one trial when everything can be read) and injects one
fault into the requests for the target resource types. Every case must answer 200 with a valid CDS response
within a bound, carry a warning card, and never claim "Eligible" on data that could not be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from service.app import create_app
from service.settings import Settings
from tests.integration.hook_support import (
    assert_no_confident_eligible,
    free_port,
    hook_body,
    post_hook_timed,
    searchset,
    serve_app,
    serve_hanging,
    shared_screener,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)

pytestmark = pytest.mark.integration

BUDGET_S = 2.5
ANSWER_BOUND_S = 15.0
PATIENT_ID = "p-fault"
RESOURCES = sle_patient_resources("p-fault")
FHIR_JSON = "application/fhir+json"
ALL = frozenset(
    {"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement", "Procedure", "Immunization"}
)


@dataclass
class StubState:
    fault: str | None = None
    targets: frozenset[str] = frozenset()
    hits: int = 0


STATE = StubState()


def _outcome(status: int, code: str) -> JSONResponse:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


async def _slow_body() -> AsyncIterator[bytes]:
    yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
    for _ in range(200):
        await asyncio.sleep(0.25)
        yield b" "
    yield b"]}"


async def _huge_body() -> AsyncIterator[bytes]:
    filler = b'{"resource": {"resourceType": "Observation", "id": "x", "status": "final"}},' * 14_000  # ~1 MB
    yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
    for _ in range(22):  # > the 20 MB response cap, no Content-Length (chunked)
        yield filler
    yield b'{"resource": {"resourceType": "Observation", "id": "y", "status": "final"}}]}'


async def _fault(request: Request, resource_type: str) -> Response:
    fault = STATE.fault
    if fault == "hang":
        await asyncio.sleep(120)
    if fault == "slow-body":
        return StreamingResponse(_slow_body(), media_type=FHIR_JSON)
    if fault in ("401", "403"):
        return _outcome(int(fault), "security")
    if fault == "404":
        return _outcome(404, "not-found")
    if fault == "429":
        response = _outcome(429, "throttled")
        response.headers["Retry-After"] = "120"
        return response
    if fault == "500":
        return Response("Internal Server Error\n  at com.example.Fhir(Fhir.java:42)", status_code=500)
    if fault == "invalid-json":
        return Response(b'{"resourceType": "Bundle", "type": "searchset", "entry": [{"res', media_type=FHIR_JSON)
    if fault == "wrong-bundle-type":
        bundle = searchset([r for r in RESOURCES if r["resourceType"] == resource_type])
        bundle["type"] = "collection"
        return JSONResponse(bundle, media_type=FHIR_JSON)
    if fault == "endless-next":
        page = int(request.query_params.get("page", "0"))
        bundle = searchset([r for r in RESOURCES if r["resourceType"] == resource_type][:1])
        next_url = f"{str(request.base_url).rstrip('/')}/fhir/{resource_type}?patient={PATIENT_ID}&page={page + 1}"
        bundle["link"] = [{"relation": "self", "url": str(request.url)}, {"relation": "next", "url": next_url}]
        return JSONResponse(bundle, media_type=FHIR_JSON)
    if fault == "huge-page":
        return StreamingResponse(_huge_body(), media_type=FHIR_JSON)
    raise AssertionError(f"unknown fault {fault}")


async def _fhir(request: Request) -> Response:
    STATE.hits += 1
    parts = request.path_params["path"].strip("/").split("/")
    resource_type = parts[0]
    if resource_type in STATE.targets and STATE.fault:
        return await _fault(request, resource_type)
    if resource_type == "Patient" and len(parts) == 2:
        if parts[1] != PATIENT_ID:
            return _outcome(404, "not-found")
        return JSONResponse(RESOURCES[0], media_type=FHIR_JSON)
    if request.query_params.get("patient") != PATIENT_ID:
        return JSONResponse(searchset([]), media_type=FHIR_JSON)
    return JSONResponse(searchset([r for r in RESOURCES if r["resourceType"] == resource_type]), media_type=FHIR_JSON)


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    with serve_app(Starlette(routes=[Route("/fhir/{path:path}", _fhir)])) as url:
        yield f"{url}/fhir"


@pytest.fixture(scope="module")
def hanging_url() -> Iterator[str]:
    with serve_hanging() as url:
        yield url


@pytest.fixture(scope="module")
def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/fhir"  # bound, then closed: nothing listens


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, stub_url: str, hanging_url: str, refused_url: str
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('faults')}/audit.sqlite3",
        require_jwt=False,
        allowed_fhir_servers=[stub_url, hanging_url, refused_url],
        hook_budget_seconds=BUDGET_S,
        fhir_request_timeout_seconds=1.5,
    )
    with TestClient(create_app(settings, shared_screener())) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    STATE.fault, STATE.targets, STATE.hits = None, frozenset(), 0


def _post(client: TestClient, server: str) -> tuple[dict[str, Any], float]:
    return post_hook_timed(client, hook_body(PATIENT_ID, fhir_server=server, token="stub-token"))


def test_control_healthy_stub_gives_an_eligible_card(client: TestClient, stub_url: str) -> None:
    payload, _ = _post(client, stub_url)
    assert warning_cards(payload) == []
    assert any(c["summary"].startswith("Eligible") for c in payload["cards"]), "the stub patient should be eligible"


# (case id, server: stub | hanging | refused, fault, target resource types, words expected in the warning)
FAULTS = [
    ("connection-refused", "refused", None, ALL, "connect"),
    ("hang-everything", "hanging", None, ALL, "budget|timed out"),
    ("hang-observations", "stub", "hang", {"Observation"}, "Observation"),
    ("slow-body", "stub", "slow-body", {"Observation"}, "Observation"),
    ("401-everywhere", "stub", "401", ALL, "401"),
    ("403-on-observations", "stub", "403", {"Observation"}, "403"),
    ("404-on-patient", "stub", "404", {"Patient"}, "404"),
    ("429-retry-after", "stub", "429", {"Observation", "MedicationRequest"}, "429"),
    ("500-everywhere", "stub", "500", ALL, "500"),
    ("500-on-conditions", "stub", "500", {"Condition"}, "Condition"),
    ("invalid-json", "stub", "invalid-json", {"Observation"}, "not JSON"),
    ("invalid-json-patient", "stub", "invalid-json", {"Patient"}, "not JSON"),
    ("wrong-bundle-type", "stub", "wrong-bundle-type", {"Observation", "MedicationRequest"}, "searchset"),
    ("endless-next-links", "stub", "endless-next", {"Observation"}, "too many pages"),
    ("huge-page", "stub", "huge-page", {"Observation"}, "exceeds"),
]


@pytest.mark.parametrize(
    ("server", "fault", "targets", "expected"), [case[1:] for case in FAULTS], ids=[case[0] for case in FAULTS]
)
def test_fhir_fault_gives_a_bounded_honest_answer(
    client: TestClient,
    stub_url: str,
    hanging_url: str,
    refused_url: str,
    server: str,
    fault: str | None,
    targets: frozenset[str],
    expected: str,
) -> None:
    STATE.fault, STATE.targets = fault, frozenset(targets)
    url = {"stub": stub_url, "hanging": hanging_url, "refused": refused_url}[server]

    payload, elapsed = _post(client, url)

    assert elapsed < ANSWER_BOUND_S
    warnings = warning_cards(payload)
    assert len(warnings) == 1, payload
    detail = warnings[0].get("detail", "")
    assert any(word.lower() in detail.lower() for word in expected.split("|")), detail
    assert "stub-token" not in str(payload)
    assert "Traceback" not in str(payload)
    assert "Fhir.java" not in str(payload)
    assert_no_confident_eligible(payload)
    if "Patient" in targets:
        assert trial_cards(payload) == [], "no trial card without a readable Patient"
    audit = client.app.state.audit  # type: ignore[attr-defined]
    for card in trial_cards(payload):
        assert audit.get_card(card["uuid"]) is not None
