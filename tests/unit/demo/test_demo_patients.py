"""The bundled demo patients: each screens to the statuses its file expects, and uploads as valid FHIR R4."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fhir.resources.R4B.bundle import Bundle  # R4B: the R4-compatible model set of fhir.resources 8

from service.demo.builder import collection_bundle
from service.demo.patients import DemoPatient, load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.screening.screen import Screener, load_screener

TODAY = dt.date.today()
TRIAL_IDS = {
    "allo-cd19-bcma-aid",
    "cd19-cart-active-sle",
    "uwd-cd19-aid",
    "cd19-bcma-ln-ssc-pah",
    "bcma-cd19-aid-anhui",
}
STATUSES = {"eligible", "possibly-eligible", "ineligible"}
PATIENTS = load_demo_patients(TODAY)
IDS = [p.key for p in PATIENTS]


@pytest.fixture(scope="module")
def screener() -> Screener:
    return load_screener()


def test_there_are_ten_to_fourteen_demo_patients() -> None:
    assert 10 <= len(PATIENTS) <= 14


@pytest.mark.parametrize("patient", PATIENTS, ids=IDS)
def test_demo_file_is_well_formed(patient: DemoPatient) -> None:
    assert re.fullmatch(r"demo-[a-z0-9]+(-[a-z0-9]+)*", patient.key)
    assert patient.title
    assert patient.title != patient.key
    assert "\n" not in patient.title
    name = patient.spec["patient"]["name"]
    assert re.fullmatch(r"[A-Z][\w'-]+, [A-Z][\w'-]+( [A-Z][\w'-]+)*", name), name
    expect = patient.spec["expect"]
    assert set(expect) == TRIAL_IDS
    assert set(expect.values()) <= STATUSES
    assert patient.resources[0]["resourceType"] == "Patient"
    assert patient.resources[0]["id"] == patient.key


@pytest.mark.parametrize("patient", PATIENTS, ids=IDS)
def test_demo_patient_screens_to_its_expected_statuses(patient: DemoPatient, screener: Screener) -> None:
    report = screener.screen(patient.record, on=TODAY)
    got = {t.id: t.status for t in report.trials}
    assert got == patient.spec["expect"]


@pytest.mark.parametrize("patient", PATIENTS, ids=IDS)
def test_demo_patient_screens_the_same_in_a_year(patient: DemoPatient, screener: Screener) -> None:
    """Dates are relative: the patients stay valid whenever the demo runs."""
    later = TODAY + dt.timedelta(days=400)
    moved = load_demo_patients(later)
    again = next(p for p in moved if p.key == patient.key)
    report = screener.screen(again.record, on=later)
    assert {t.id: t.status for t in report.trials} == patient.spec["expect"]


@pytest.mark.parametrize("patient", PATIENTS, ids=IDS)
def test_transaction_bundle_is_valid_fhir_r4(patient: DemoPatient) -> None:
    bundle = patient.transaction
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert resource["identifier"][0]["system"] == "urn:trial-screen:demo"
        refs = re.findall(r'"reference": "([^"]+)"', str(resource).replace("'", '"'))
        assert all(r in ids for r in refs), refs  # client-assigned ids: references need no rewriting


@pytest.mark.parametrize("patient", PATIENTS, ids=IDS)
def test_collection_bundle_reads_back_to_the_same_record(patient: DemoPatient, screener: Screener) -> None:
    bundle = collection_bundle(patient.resources)
    Bundle.model_validate(bundle)
    record = record_from_bundle(bundle)
    report = screener.screen(record, on=TODAY)
    assert {t.id: t.status for t in report.trials} == patient.spec["expect"]


def test_every_trial_and_arm_has_a_candidate(screener: Screener) -> None:
    """Per trial and arm, at least one demo patient is eligible or possibly eligible."""
    open_arms: set[tuple[str, str | None]] = set()
    ineligible_somewhere: set[str] = set()
    for patient in PATIENTS:
        for trial in screener.screen(patient.record, on=TODAY).trials:
            if trial.status == "ineligible":
                ineligible_somewhere.add(trial.id)
                continue
            open_arms.add((trial.id, None))
            open_arms.update((trial.id, c.id) for c in trial.cohorts if c.status != "ineligible")
    wanted = {(t.id, None) for t in screener.trials}
    wanted |= {(t.id, c.id) for t in screener.trials for c in t.compiled.trial.cohorts}
    assert wanted - open_arms == set()
    assert ineligible_somewhere == TRIAL_IDS


def test_codes_are_realistic() -> None:
    """LOINC labs with UCUM units, SNOMED CT and ICD-10-CM conditions, RxNorm products and ingredients, CVX."""
    systems: dict[str, set[str]] = {}
    product_codes = {"198145", "312615", "312617", "200060", "979092", "197388", "105585", "577033", "727702"}
    rxnorm_codes: set[str] = set()
    for patient in PATIENTS:
        for resource in patient.resources[1:]:
            concept = resource.get("code") or resource.get("medicationCodeableConcept") or resource.get("vaccineCode")
            coding = concept["coding"][0]
            systems.setdefault(resource["resourceType"], set()).add(coding["system"])
            if resource["resourceType"] == "MedicationRequest":
                rxnorm_codes.add(coding["code"])
            quantity = resource.get("valueQuantity")
            if quantity is not None:
                assert quantity["system"] == "http://unitsofmeasure.org"
    assert systems["Condition"] == {"http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"}
    assert systems["Observation"] == {"http://loinc.org", "urn:trial-screen:score"}
    assert systems["MedicationRequest"] == {"http://www.nlm.nih.gov/research/umls/rxnorm"}
    assert systems["Immunization"] == {"http://hl7.org/fhir/sid/cvx"}
    assert rxnorm_codes & product_codes
