"""Infusions given in clinic may be on record only as MedicationAdministration: the hook asks the EHR for them
(prefetch key `medicationAdministrations`) and reads them like every other medication record. Without them and
with no FHIR server to ask, medication criteria are unknown and a warning says so, never a silent "not given"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.hook_support import (
    HOOK_PATH,
    assert_valid_cds_response,
    hook_body,
    prefetch_for,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)

RESOURCES = sle_patient_resources("administrations-patient")
PATIENT_ID = RESOURCES[0]["id"]
TRIAL = "cd19-cart-active-sle"  # excludes any B-cell targeted therapy before screening
RITUXIMAB_INFUSION = {
    "resourceType": "MedicationAdministration",
    "id": "rituximab-infusion",
    "status": "completed",
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191", "display": "rituximab"}]
    },
    "effectiveDateTime": (dt.date.today() - dt.timedelta(days=200)).isoformat(),
}


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(require_jwt=False)


def _cards(client: TestClient, prefetch: dict[str, Any]) -> dict[str, Any]:
    response = client.post(HOOK_PATH, json=hook_body(PATIENT_ID, prefetch=prefetch))
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert_valid_cds_response(payload)
    return payload


def _trials(payload: dict[str, Any]) -> set[str]:
    return {card["source"]["topic"]["code"] for card in trial_cards(payload)}


def test_an_infusion_recorded_only_as_an_administration_rules_the_patient_out(client: TestClient) -> None:
    payload = _cards(client, prefetch_for([*RESOURCES, RITUXIMAB_INFUSION]))
    assert TRIAL not in _trials(payload)
    assert warning_cards(payload) == []


def test_the_same_patient_without_the_infusion_keeps_the_card(client: TestClient) -> None:
    payload = _cards(client, prefetch_for(RESOURCES))
    assert TRIAL in _trials(payload)
    assert warning_cards(payload) == []


def test_administrations_not_supplied_and_no_fhir_server_leave_medication_criteria_open(client: TestClient) -> None:
    prefetch = prefetch_for([*RESOURCES, RITUXIMAB_INFUSION])
    del prefetch["medicationAdministrations"]
    payload = _cards(client, prefetch)
    assert TRIAL in _trials(payload)  # the infusion is not known: possibly eligible, never ruled in or out silently
    warnings = warning_cards(payload)
    assert warnings
    assert "MedicationAdministration" in warnings[0]["detail"]
    card = next(c for c in trial_cards(payload) if c["source"]["topic"]["code"] == TRIAL)
    assert not card["summary"].startswith("Eligible")
