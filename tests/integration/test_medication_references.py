"""Medication records that name their drug by reference (`medicationReference` → a Medication resource), as EHRs
often record infusions, against a real FHIR server (SEKMET): the searches and the prefetch templates bring the
referenced Medication along (`_include`), so a B-cell therapy on record only that way rules the patient out of a
trial that excludes it, and the same patient without it keeps the card.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.fhir_server import created_id, seed_transaction
from service.app import create_app
from service.demo.builder import transaction_bundle
from service.fhir_access.resource_types import SEARCH_OF, ResourceType
from service.settings import Settings
from tests.integration.hook_support import (
    HOOK_PATH,
    assert_valid_cds_response,
    fetch_prefetch,
    hook_body,
    shared_screener,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)

pytestmark = [pytest.mark.integration]

TRIAL = "cd19-cart-active-sle"  # excludes any B-cell targeted therapy before screening
RECORD_KINDS = (ResourceType.MEDICATION_ADMINISTRATION, ResourceType.MEDICATION_STATEMENT)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _rituximab_by_reference(kind: ResourceType, patient_id: str) -> list[dict[str, Any]]:
    medication_id = f"{patient_id}-rituximab"
    given = (dt.date.today() - dt.timedelta(days=200)).isoformat()
    record: dict[str, Any] = {
        "resourceType": kind,
        "id": f"{patient_id}-infusion",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationReference": {"reference": f"Medication/{medication_id}"},
        "effectiveDateTime": given,
    }
    medication = {
        "resourceType": "Medication",
        "id": medication_id,
        "code": {"coding": [{"system": RXNORM, "code": "121191", "display": "rituximab"}]},
    }
    return [medication, record]


def _seed(base: str, key: str, kind: ResourceType | None) -> str:
    resources = sle_patient_resources(key)
    if kind is not None:
        resources += _rituximab_by_reference(kind, resources[0]["id"])
    bundle = transaction_bundle(resources)
    return created_id(seed_transaction(base, bundle), bundle, "Patient")


@pytest.fixture(scope="module")
def seeded(fhir_server: str) -> dict[ResourceType | None, str]:
    """Record kind of the rituximab infusion (None: none on record) → Patient id."""
    return {kind: _seed(fhir_server, f"medref-{kind or 'none'}".lower(), kind) for kind in (*RECORD_KINDS, None)}


@pytest.fixture
def client(fhir_server: str, tmp_path: Any) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/audit.sqlite3",
        require_jwt=False,
        allowed_fhir_servers=[fhir_server],
        hook_budget_seconds=30,
        fhir_request_timeout_seconds=15,
    )
    with TestClient(create_app(settings, shared_screener())) as client:
        yield client


def _trials(client: TestClient, body: dict[str, Any]) -> set[str]:
    response = client.post(HOOK_PATH, json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert_valid_cds_response(payload)
    assert warning_cards(payload) == []
    return {card["source"]["topic"]["code"] for card in trial_cards(payload)}


@pytest.mark.parametrize("kind", RECORD_KINDS)
def test_an_infusion_named_by_reference_and_fetched_rules_the_patient_out(
    client: TestClient, fhir_server: str, seeded: dict[ResourceType | None, str], kind: ResourceType
) -> None:
    assert TRIAL not in _trials(client, hook_body(seeded[kind], fhir_server=fhir_server))


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("kind", RECORD_KINDS)
async def test_an_infusion_named_by_reference_and_prefetched_rules_the_patient_out(
    client: TestClient, fhir_server: str, seeded: dict[ResourceType | None, str], kind: ResourceType
) -> None:
    prefetch = await fetch_prefetch(fhir_server, seeded[kind])  # the discovery's templates, run as an EHR would
    brought = prefetch[SEARCH_OF[kind].prefetch_key]["entry"]
    assert any(entry["resource"]["resourceType"] == "Medication" for entry in brought)
    assert TRIAL not in _trials(client, hook_body(seeded[kind], prefetch=prefetch))


@pytest.mark.asyncio(loop_scope="session")
async def test_the_same_patient_without_the_infusion_keeps_the_card(
    client: TestClient, fhir_server: str, seeded: dict[ResourceType | None, str]
) -> None:
    assert TRIAL in _trials(client, hook_body(seeded[None], fhir_server=fhir_server))
    prefetch = await fetch_prefetch(fhir_server, seeded[None])
    assert TRIAL in _trials(client, hook_body(seeded[None], prefetch=prefetch))
