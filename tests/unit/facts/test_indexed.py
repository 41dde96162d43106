"""What PatientFacts tells the evaluation plan: the concepts its records carry, its gaps (unreadable types,
unresolved medication references), and a blank patient with those gaps that answers as the patient does about
every concept it holds no record of."""

from __future__ import annotations

import datetime as dt

from mappings.catalog import load_catalog
from service.criteria.inputs import EventQuery, MeasurementQuery, RecordKind
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_resources

ON = dt.date(2026, 11, 23)
PATIENT = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1980-05-01"}
SLE = {
    "resourceType": "Condition",
    "id": "sle",
    "subject": {"reference": "Patient/p"},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
    "onsetDateTime": "2020-01-01",
}
DANGLING = {
    "resourceType": "MedicationRequest",
    "id": "m",
    "subject": {"reference": "Patient/p"},
    "status": "active",
    "medicationReference": {"reference": "Medication/absent"},
}


def _facts(*resources: dict[str, object], unreadable: frozenset[str] = frozenset()) -> PatientFacts:
    return PatientFacts(record_from_resources(PATIENT, resources), load_catalog(), unreadable=unreadable)


def test_the_concepts_held_are_those_of_the_counted_records() -> None:
    assert "sle" in _facts(SLE).concepts_held()
    assert not _facts(DANGLING).concepts_held()


def test_the_gaps_are_the_unreadable_types_and_the_number_of_unresolved_references() -> None:
    assert _facts(SLE).gaps() == _facts().gaps()
    assert _facts(DANGLING).gaps() != _facts().gaps()
    assert _facts(unreadable=frozenset({"Observation"})).gaps() != _facts().gaps()


def test_the_blank_answers_as_the_patient_about_what_it_holds_no_record_of() -> None:
    facts = _facts(SLE, DANGLING, unreadable=frozenset({"Observation"}))
    blank = facts.blank()
    assert not blank.concepts_held()
    assert blank.gaps() == facts.gaps()
    assert blank.sex() != facts.sex()  # no demographics: it answers for every patient with these gaps
    for query in (
        EventQuery(RecordKind.CONDITION, frozenset({"lymphoma"})),
        EventQuery(RecordKind.MEDICATION, frozenset({"rituximab"})),
        MeasurementQuery(frozenset({"anc"}), "10*9/L"),
    ):
        found = facts.latest(query, ON) if isinstance(query, MeasurementQuery) else facts.events(query, ON)
        from_blank = blank.latest(query, ON) if isinstance(query, MeasurementQuery) else blank.events(query, ON)
        assert found == from_blank
