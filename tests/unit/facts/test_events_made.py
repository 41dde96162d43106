"""PatientFacts makes its events by the tuple's own constructor, every field given in order: each must equal the
Event the named tuple's constructor makes from the same fields by name."""

from __future__ import annotations

import datetime as dt

from mappings.catalog import load_catalog
from service.criteria.inputs import Event, EventQuery, Evidence, Polarity, RecordKind, Window
from service.facts.patient_facts import PatientFacts
from service.fhir_access.record import PatientRecord

ON = dt.date(2026, 11, 23)
SLE = {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]}
HBSAG = {"coding": [{"system": "http://loinc.org", "code": "5196-1"}]}
POSITIVE = {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}


def _facts() -> PatientFacts:
    condition = {"resourceType": "Condition", "id": "c1", "code": SLE, "onsetDateTime": "2020-05-01",
                 "verificationStatus": {"coding": [{"code": "provisional"}]}}  # fmt: skip
    result = {"resourceType": "Observation", "id": "o1", "status": "final", "code": HBSAG,
              "effectiveDateTime": "2026-11-01", "valueCodeableConcept": POSITIVE}  # fmt: skip
    patient = {"resourceType": "Patient", "id": "p1"}
    resources = {"Condition": (condition,), "Observation": (result,)}
    return PatientFacts(PatientRecord(patient=patient, resources=resources), load_catalog())


def _same(found: object, expected: Event) -> None:
    assert isinstance(found, tuple)
    assert len(found) == 1
    (event,) = found
    assert type(event) is Event
    assert event._asdict() == expected._asdict()


def test_a_record_event_is_the_constructors() -> None:
    found = _facts().events(EventQuery(RecordKind.CONDITION, frozenset({"sle"}), Window()), ON)
    doubt = "diagnosis recorded as provisional, needs confirmation"
    evidence = Evidence.of("Condition/c1", "Systemic lupus erythematosus (2020-05-01)")
    _same(found, Event(evidence, dt.date(2020, 5, 1), ON, certain=False, doubt=doubt, course=None))  # ongoing


def test_a_result_event_is_the_constructors() -> None:
    query = EventQuery(RecordKind.OBSERVATION, frozenset({"hbsag"}), Window(), polarity=Polarity.POSITIVE)
    found = _facts().events(query, ON)
    evidence = Evidence.of("Observation/o1", "Hepatitis B surface antigen positive (2026-11-01)")
    _same(found, Event(evidence, dt.date(2026, 11, 1), dt.date(2026, 11, 1), certain=True, doubt=None))
