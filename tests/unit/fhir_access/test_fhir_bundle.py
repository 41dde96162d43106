"""record_from_bundle / record_from_resources: structure errors, ownership, and the 11 Synthea bundles."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from service.fhir_access.bundle import record_from_bundle, record_from_resources
from service.fhir_access.errors import BundleError, FhirError
from service.fhir_access.resource_types import READ_TYPES
from tests.paths import SYNTHEA

# Patient / Condition / Observation / MedicationRequest / Procedure / Immunization, from SOURCES.md.
SYNTHEA_COUNTS = {
    "01-randall-stroman.json": (9, 375, 22, 8, 11),
    "02-laticia-dibbert.json": (6, 221, 6, 18, 11),
    "03-asa-hermiston.json": (7, 61, 9, 1, 9),
    "04-gilbert-wunsch.json": (11, 207, 102, 70, 10),
    "05-vito-feeney.json": (15, 869, 4, 28, 11),
    "06-alix-crist.json": (43, 531, 66, 118, 3),
    "07-chuck-batz.json": (35, 182, 49, 46, 4),
    "08-lekisha-wilderman.json": (21, 153, 12, 66, 6),
    "09-vella-heathcote.json": (19, 115, 14, 47, 4),
    "10-veta-cormier.json": (27, 247, 20, 48, 7),
    "11-gabriele-rohan.json": (6, 117, 3, 8, 20),
}
COUNTED = ("Condition", "Observation", "MedicationRequest", "Procedure", "Immunization")


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SYNTHEA / name).read_text())
    return data


def patient(pid: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid}


def of(resource_type: str, rid: str, ref: str, field: str = "subject") -> dict[str, Any]:
    return {"resourceType": resource_type, "id": rid, field: {"reference": ref}}


def bundle(*resources: dict[str, Any], kind: str = "collection", **entry_extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r, **entry_extra} for r in resources],
    }


# -- structure -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "not a JSON object"),
        ({"resourceType": "Patient", "id": "p1"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "document", "entry": []}, "unsupported Bundle type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "must be a list"),
        ({"resourceType": "Bundle", "type": "collection", "entry": ["x"]}, r"entry\[0\] is not an object"),
        ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": 3}]}, "resource is not"),
        ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {}}]}, "no resourceType"),
        ({"resourceType": "Bundle", "type": "collection"}, "no Patient"),
    ],
)
def test_malformed(body: Any, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        record_from_bundle(body)


def test_no_patient() -> None:
    with pytest.raises(BundleError, match="no Patient"):
        record_from_bundle(bundle(of("Condition", "c1", "Patient/p1")))


def test_two_patients() -> None:
    with pytest.raises(BundleError, match="2 Patient resources") as info:
        record_from_bundle(bundle(patient("p1"), patient("p2")))
    assert isinstance(info.value, FhirError)


def test_patient_without_id_and_without_urn_is_rejected() -> None:
    with pytest.raises(BundleError, match="no id"):
        record_from_bundle(bundle({"resourceType": "Patient"}))


@pytest.mark.parametrize("kind", ["collection", "searchset", "batch", "transaction"])
def test_accepted_bundle_types(kind: str) -> None:
    record = record_from_bundle(bundle(patient(), of("Condition", "c1", "Patient/p1"), kind=kind))
    assert record.reference == "Patient/p1"
    assert len(record.of_type("Condition")) == 1


def test_searchset_outcome_entries_are_skipped() -> None:
    body = bundle(patient(), of("Observation", "o1", "Patient/p1"), kind="searchset")
    body["entry"].append(
        {
            "resource": {"resourceType": "OperationOutcome", "issue": []},
            "search": {"mode": "outcome"},
        }
    )
    # A Patient hiding in an outcome entry would be a second patient: it must be skipped too.
    body["entry"].append({"resource": patient("ghost"), "search": {"mode": "outcome"}})
    record = record_from_bundle(body)
    assert record.reference == "Patient/p1"
    assert [r["id"] for r in record.of_type("Observation")] == ["o1"]


def test_ownership_and_types() -> None:
    body = bundle(
        patient("p1"),
        of("Condition", "mine", "Patient/p1"),
        of("Condition", "versioned", "Patient/p1/_history/2"),
        of("Condition", "absolute", "https://ehr.example.org/fhir/Patient/p1"),
        of("Condition", "other", "Patient/p2"),
        of("Condition", "other-absolute", "https://ehr.example.org/fhir/Patient/p11"),
        of("Immunization", "imm", "Patient/p1", field="patient"),
        {"resourceType": "Observation", "id": "no-subject"},
        {"resourceType": "Medication", "id": "med"},
        of("Encounter", "enc", "Patient/p1"),
    )
    record = record_from_bundle(body)
    assert [r["id"] for r in record.of_type("Condition")] == ["mine", "versioned", "absolute"]
    assert [r["id"] for r in record.of_type("Immunization")] == ["imm"]
    assert [r["id"] for r in record.of_type("Medication")] == ["med"]
    assert record.of_type("Observation") == ()
    assert record.of_type("Encounter") == ()
    assert set(record.resources) <= set(READ_TYPES)


def test_urn_uuid_references_and_missing_patient_id() -> None:
    urn = "urn:uuid:8f437924-8cad-441b-88d2-ff38c9363bde"
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": urn, "resource": {"resourceType": "Patient"}, "request": {"method": "POST"}},
            {"fullUrl": "urn:uuid:1", "resource": of("Condition", "c1", urn)},
            {"request": {"method": "DELETE", "url": "Condition/x"}},
        ],
    }
    record = record_from_bundle(body)
    assert record.reference == "Patient/8f437924-8cad-441b-88d2-ff38c9363bde"
    assert len(record.of_type("Condition")) == 1
    assert "id" not in body["entry"][0]["resource"]  # the input is not mutated


def test_record_from_resources() -> None:
    record = record_from_resources(
        patient("p1"),
        [
            of("Condition", "c1", "Patient/p1"),
            of("Condition", "c2", "Patient/p2"),
            of("Procedure", "pr", "Patient/p1"),
            {"resourceType": "Medication", "id": "m"},
            {"resourceType": "OperationOutcome"},
        ],
    )
    assert {k: len(v) for k, v in record.resources.items()} == {
        "Condition": 1,
        "Procedure": 1,
        "Medication": 1,
    }
    with pytest.raises(BundleError):
        record_from_resources({"resourceType": "Patient"}, [])


# -- Synthea ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SYNTHEA_COUNTS))
def test_synthea_bundles(name: str) -> None:
    body = load(name)
    record = record_from_bundle(body)
    patient_entry = next(e for e in body["entry"] if e["resource"]["resourceType"] == "Patient")
    assert record.reference == f"Patient/{patient_entry['resource']['id']}"
    assert tuple(len(record.of_type(t)) for t in COUNTED) == SYNTHEA_COUNTS[name]
    assert record.of_type("MedicationStatement") == ()  # Synthea emits none
    # The 2025 files use medicationReference: every referenced Medication is there.
    med_refs = {
        r["medicationReference"]["reference"] for r in record.of_type("MedicationRequest") if "medicationReference" in r
    }
    full_urls = {e["resource"].get("id"): e["fullUrl"] for e in body["entry"]}
    assert med_refs <= {full_urls[m["id"]] for m in record.of_type("Medication")}
