"""FhirClient against a real FHIR R4 server (SEKMET), seeded with the Synthea transaction bundles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fhir_server import created_id, seed_transaction
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.client import FhirClient
from service.fhir_access.errors import FhirAuthError
from service.fhir_access.resource_types import READ_TYPES
from tests.paths import SYNTHEA

# Tests share the session loop with the async fixtures (asyncio_default_fixture_loop_scope = "session").
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TOKEN = "a-test-token"
# 03 and 11 are self-contained; 06 and 10 need support/ first (conditional references). 06 has the most
# Observations (531: 11 pages of 50) and 06/10 reference Medication resources (the _include path).
SEEDED = ("03-asa-hermiston.json", "06-alix-crist.json", "10-veta-cormier.json", "11-gabriele-rohan.json")
FETCHED = sorted(READ_TYPES)  # "Medication" is not searched itself: it comes via MedicationRequest _include


@cache
def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def seed_patient(base_url: str, name: str, token: str | None = None) -> str:
    body = load(SYNTHEA / name)
    return created_id(seed_transaction(base_url, body, token), body, "Patient")


@pytest.fixture(scope="session")
def seeded(fhir_server: str) -> dict[str, str]:
    """Support bundles, then the patients: file name → server-assigned Patient id."""
    for support in sorted((SYNTHEA / "support").glob("*.json")):
        seed_transaction(fhir_server, load(support))
    return {name: seed_patient(fhir_server, name) for name in SEEDED}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def counts(resources: dict[str, tuple[Any, ...]] | Any) -> dict[str, int]:
    return {t: len(v) for t, v in resources.items() if len(v)}


@pytest.mark.parametrize("name", SEEDED)
async def test_fetch_record_matches_the_bundle(
    http: httpx.AsyncClient, fhir_server: str, seeded: dict[str, str], name: str
) -> None:
    client = FhirClient(http, [fhir_server], page_size=50)
    record, problems = await client.fetch_record(fhir_server, seeded[name], None, FETCHED, budget_seconds=30)
    assert problems == []
    assert record.reference == f"Patient/{seeded[name]}"
    expected = record_from_bundle(load(SYNTHEA / name))
    assert counts(record.resources) == counts(expected.resources)
    # Searched types are present even when empty (MedicationStatement: Synthea emits none).
    assert record.resources["MedicationStatement"] == ()


async def test_paging_follows_next_links(http: httpx.AsyncClient, fhir_server: str, seeded: dict[str, str]) -> None:
    patient_id = seeded["06-alix-crist.json"]
    paged = await FhirClient(http, [fhir_server], page_size=50).search(
        fhir_server, "Observation", {"patient": patient_id}, None
    )
    assert len(paged) == 531
    assert len({r["id"] for r in paged}) == 531
    capped = FhirClient(http, [fhir_server], page_size=50, page_cap=3)
    with pytest.raises(Exception, match="too many pages"):
        await capped.search(fhir_server, "Observation", {"patient": patient_id}, None)


async def test_unknown_search_parameter_outcome_is_dropped(
    http: httpx.AsyncClient, fhir_server: str, seeded: dict[str, str]
) -> None:
    patient_id = seeded["03-asa-hermiston.json"]
    raw = (await http.get(f"{fhir_server}/Condition", params={"patient": patient_id, "no-such-param": "x"})).json()
    assert any(e.get("search", {}).get("mode") == "outcome" for e in raw["entry"])  # the server does add one

    client = FhirClient(http, [fhir_server])
    found = await client.search(fhir_server, "Condition", {"patient": patient_id, "no-such-param": "x"}, None)
    assert {r["resourceType"] for r in found} == {"Condition"}
    assert len(found) == 7


async def test_missing_patient_is_a_response_error(http: httpx.AsyncClient, fhir_server: str) -> None:
    client = FhirClient(http, [fhir_server])
    with pytest.raises(Exception, match="404") as info:
        await client.fetch_record(fhir_server, "does-not-exist", None, ["Condition"], budget_seconds=10)
    assert type(info.value).__name__ == "FhirResponseError"


async def test_bearer_token_is_forwarded(http: httpx.AsyncClient, fhir_server_bearer: str) -> None:
    patient_id = seed_patient(fhir_server_bearer, "11-gabriele-rohan.json", TOKEN)
    client = FhirClient(http, [fhir_server_bearer], page_size=50)

    record, problems = await client.fetch_record(fhir_server_bearer, patient_id, TOKEN, FETCHED, budget_seconds=30)
    assert problems == []
    assert counts(record.resources) == counts(record_from_bundle(load(SYNTHEA / "11-gabriele-rohan.json")).resources)

    for token in ("wrong-token", None):
        with pytest.raises(FhirAuthError) as info:
            await client.fetch_record(fhir_server_bearer, patient_id, token, FETCHED, budget_seconds=30)
        assert info.value.status == 401
        assert "wrong-token" not in str(info.value)
        with pytest.raises(FhirAuthError):
            await client.search(fhir_server_bearer, "Condition", {"patient": patient_id}, token)


async def test_absolute_references(http: httpx.AsyncClient, fhir_server_absolute: str) -> None:
    """Servers that answer with absolute references (Patient/<id> prefixed by the base) still match."""
    patient_id = seed_patient(fhir_server_absolute, "03-asa-hermiston.json")
    client = FhirClient(http, [fhir_server_absolute], page_size=50)
    record, problems = await client.fetch_record(fhir_server_absolute, patient_id, None, FETCHED, budget_seconds=30)
    assert problems == []
    subject = record.of_type("Condition")[0]["subject"]["reference"]
    assert subject.startswith("http://127.0.0.1:")
    assert counts(record.resources) == counts(record_from_bundle(load(SYNTHEA / "03-asa-hermiston.json")).resources)
