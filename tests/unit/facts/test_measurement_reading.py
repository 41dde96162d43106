"""PatientFacts measurements: Highest(...) (highest readable value, open above when a result cannot be read) and
Latest(...) on a day whose results disagree (the range they span)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mappings.catalog import load_catalog
from service.criteria.inputs import Evidence, Measurement, MeasurementQuery, Missing, Window
from service.facts.history import point_at
from service.facts.index import Entry
from service.facts.measurements import Analyte, Reading, measure, read
from service.facts.patient_facts import PatientFacts
from service.fhir_access.record import PatientRecord

ON = dt.date(2026, 11, 23)
ANA = {"coding": [{"system": "http://loinc.org", "code": "5048-4"}]}
ANA_CODED = {"coding": [{"system": "http://loinc.org", "code": "8061-4"}]}
POSITIVE = {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}
HIGHEST = MeasurementQuery(frozenset({"ana"}), "{titer}", Window(), highest=True)
LATEST = MeasurementQuery(frozenset({"ana"}), "{titer}", Window())


def _titre(ident: str, day: str, value: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": ident, "status": "final", "code": ANA, "effectiveDateTime": day,
            "valueString": value}  # fmt: skip


def _facts(*observations: dict[str, Any]) -> PatientFacts:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-05-12", "gender": "female"}
    return PatientFacts(PatientRecord(patient=patient, resources={"Observation": observations}), load_catalog())


def test_highest_titre_counts_not_the_latest() -> None:
    facts = _facts(_titre("old", "2022-10-01", "1:160"), _titre("now", "2026-10-01", "1:40"))
    highest = facts.latest(HIGHEST, ON)
    assert isinstance(highest, Measurement)
    assert (highest.value, highest.evidence.reference, highest.high) == (160, "Observation/old", None)
    latest = facts.latest(LATEST, ON)
    assert isinstance(latest, Measurement)
    assert latest.value == 40


def test_a_result_without_a_titre_leaves_the_highest_open_above() -> None:
    coded = {"resourceType": "Observation", "id": "coded", "status": "final", "code": ANA_CODED,
             "effectiveDateTime": "2025-11-01", "valueCodeableConcept": POSITIVE}  # fmt: skip
    highest = _facts(coded, _titre("now", "2026-10-01", "1:40")).latest(HIGHEST, ON)
    assert isinstance(highest, Measurement)
    assert highest.value == 40
    assert highest.high == float("inf")
    assert highest.doubt


def test_only_unreadable_results_are_missing() -> None:
    coded = {"resourceType": "Observation", "id": "coded", "status": "final", "code": ANA_CODED,
             "effectiveDateTime": "2025-11-01", "valueCodeableConcept": POSITIVE}  # fmt: skip
    assert isinstance(_facts(coded).latest(HIGHEST, ON), Missing)
    assert isinstance(_facts().latest(HIGHEST, ON), Missing)


def test_a_lower_bound_counts_as_at_least_its_value() -> None:
    highest = _facts(_titre("bound", "2024-10-01", ">1:1280"), _titre("now", "2026-10-01", "1:40")).latest(HIGHEST, ON)
    assert isinstance(highest, Measurement)
    assert (highest.value, highest.evidence.reference) == (1280, "Observation/bound")
    assert highest.high == float("inf")
    assert highest.doubt
    assert isinstance(_facts(_titre("below", "2024-10-01", "<1:40")).latest(HIGHEST, ON), Missing)
    assert isinstance(_facts(_titre("bound", "2024-10-01", ">1:1280")).latest(LATEST, ON), Missing)


EGFR = MeasurementQuery(frozenset({"egfr"}), "mL/min/{1.73_m2}", Window())


def _egfr(ident: str, code: str, value: float, day: str = "2026-11-01") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": ident, "status": "final", "effectiveDateTime": day,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"}}  # fmt: skip


def test_same_day_results_that_disagree_span_a_range() -> None:
    latest = _facts(_egfr("a", "48642-3", 28), _egfr("b", "48643-1", 33)).latest(EGFR, ON)
    assert isinstance(latest, Measurement)
    assert (latest.value, latest.high) == (28, 33)
    assert latest.doubt is not None
    assert "28" in latest.doubt
    assert "33" in latest.doubt


def test_same_day_results_that_agree_or_an_older_one_stay_exact() -> None:
    agree = _facts(_egfr("a", "48642-3", 28), _egfr("b", "33914-3", 28)).latest(EGFR, ON)
    assert isinstance(agree, Measurement)
    assert (agree.value, agree.high) == (28, None)
    newer = _facts(_egfr("a", "33914-3", 28, "2026-10-01"), _egfr("b", "33914-3", 33)).latest(EGFR, ON)
    assert isinstance(newer, Measurement)
    assert (newer.value, newer.high) == (33, None)


def test_a_same_day_result_without_a_value_is_skipped_and_the_others_of_the_day_still_span() -> None:
    valueless = {"resourceType": "Observation", "id": "z0", "status": "final", "effectiveDateTime": "2026-11-01",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "48642-3"}]}}  # fmt: skip
    latest = _facts(_egfr("c", "48642-3", 28), valueless, _egfr("b", "48643-1", 33)).latest(EGFR, ON)
    assert isinstance(latest, Measurement)
    assert (latest.value, latest.high, latest.evidence.reference) == (28, 33, "Observation/c")


def test_a_result_dated_by_month_only_is_not_of_the_day() -> None:
    month = _facts(_egfr("a", "48642-3", 28), _egfr("b", "48643-1", 33, "2026-11")).latest(EGFR, ON)
    assert isinstance(month, Measurement)
    assert (month.value, month.high) == (33, None)


def test_a_quantity_reads_as_the_named_tuples_constructors_make_it() -> None:
    """`read` and `measure` make their common Reading and Measurement by the tuple's own constructor, the
    Measurement's defaults spelt out: each must equal the named tuple's constructor's, field for field."""
    holder = {"valueQuantity": {"value": 11.2, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"}}
    analyte = Analyte("hemoglobin", "Hemoglobin", "g/dL", None, False)
    reading = read(holder, analyte)
    assert type(reading) is Reading
    assert reading == Reading(11.2, None, "g/dL", "11.2 g/dL")
    timing = point_at("2026-11-20")
    assert timing is not None
    entry = Entry("Observation", holder, holder, timing, "Observation/o1")
    found = measure(entry, analyte, "g/dL", lambda value, *_: value)
    assert type(found) is Measurement
    evidence = Evidence.of("Observation/o1", "Hemoglobin 11.2 g/dL (2026-11-20)")
    assert found == Measurement(11.2, "g/dL", evidence, dt.date(2026, 11, 20))
    assert found._asdict() == Measurement(11.2, "g/dL", evidence, dt.date(2026, 11, 20))._asdict()
