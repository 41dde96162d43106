"""Closed lists with a safety net: a record named only by its text is a doubt, never proof; every Immunization
is a vaccination."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mappings.catalog import load_catalog
from service.criteria.inputs import Event, EventQuery
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_resources

ON = dt.date(2026, 11, 23)
PATIENT = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1980-01-01"}


def _events(kind: str, concept: str, *resources: dict[str, Any]) -> tuple[Event, ...]:
    linked = [
        {**r, "subject" if r["resourceType"] == "Condition" else "patient": {"reference": "Patient/p"}}
        for r in resources
    ]
    facts = PatientFacts(record_from_resources(PATIENT, linked), load_catalog())
    found = facts.events(EventQuery(kind, frozenset({concept})), ON)
    assert isinstance(found, tuple)
    return found


def _condition(code: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c", "code": code, "onsetDateTime": "2024-01-01"}


def test_uncoded_text_naming_a_malignancy_is_a_doubt() -> None:
    (event,) = _events("Condition", "malignancy", _condition({"text": "Adenocarcinoma of pancreas"}))
    assert not event.certain
    assert event.doubt is not None
    assert "Adenocarcinoma of pancreas" in event.doubt


def test_a_mapped_code_is_certain_and_never_also_a_text_match() -> None:
    coded = {"coding": [{"system": "http://snomed.info/sct", "code": "363418001"}], "text": "Pancreatic cancer"}
    (event,) = _events("Condition", "malignancy", _condition(coded))
    assert event.certain


def test_a_code_mapped_to_another_concept_is_not_read_by_text() -> None:
    # latent TB is coded: its text does not make it (active) tuberculosis
    latent = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z22.7"}],
        "text": "Latent tuberculosis",
    }
    assert _events("Condition", "tuberculosis", _condition(latent)) == ()


def test_every_immunization_is_a_vaccination_except_immune_globulin() -> None:
    flu = {"resourceType": "Immunization", "id": "flu", "status": "completed", "occurrenceDateTime": "2026-11-16",
           "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]}}  # fmt: skip
    ivig = {**flu, "id": "ivig", "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "87"}]}}
    uncoded = {**flu, "id": "text", "vaccineCode": {"text": "travel vaccine"}}
    found = _events("Immunization", "vaccine", flu, ivig, uncoded)
    assert sorted(e.evidence.reference for e in found) == ["Immunization/flu", "Immunization/text"]
    assert all(e.certain for e in found)
