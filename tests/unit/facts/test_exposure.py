"""Medication courses: how long one record shows a drug was taken (the input of Exposure / LongestExposure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from service.criteria.inputs import Course
from service.facts.history import duration_days, medication_course, timing_of

ON = dt.date(2026, 11, 23)
D = dt.date
PRED = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}


def _course(resource_type: str, **fields: Any) -> Course | None:
    resource = {"resourceType": resource_type, "medicationCodeableConcept": PRED, **fields}
    return medication_course(resource_type, resource, timing_of(resource_type, resource), ON)


@pytest.mark.parametrize(
    ("duration", "days"),
    [
        ({"value": 30, "code": "d"}, 30),
        ({"value": 2, "code": "wk"}, 14),
        ({"value": 6, "unit": "months"}, 183),
        ({"value": 1, "code": "a"}, 365),
        ({"value": 12, "code": "h"}, 1),
        ({"value": 0, "code": "d"}, None),
        ({"value": 3, "code": "fortnight"}, None),
        ({"code": "d"}, None),
        ("30 days", None),
    ],
)
def test_duration_days(duration: object, days: int | None) -> None:
    assert duration_days(duration) == days


def test_bounds_period_is_exact() -> None:
    course = _course(
        "MedicationRequest",
        status="completed",
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-01-10"}}}}],
    )
    assert course == Course(D(2026, 1, 1), D(2026, 1, 10), D(2026, 1, 1), D(2026, 1, 10))


def test_active_order_lasts_until_on() -> None:
    course = _course("MedicationRequest", status="active", authoredOn="2025-01-01")
    assert course == Course(D(2025, 1, 1), ON, D(2025, 1, 1), ON)


def test_bounds_duration_gives_the_end() -> None:
    repeat = {"boundsDuration": {"value": 10, "code": "d"}}
    dosage = [{"timing": {"repeat": repeat}}]
    course = _course("MedicationRequest", status="completed", authoredOn="2026-01-01", dosageInstruction=dosage)
    assert course == Course(D(2026, 1, 1), D(2026, 1, 10), D(2026, 1, 1), D(2026, 1, 10))


def test_supply_proves_one_fill_and_allows_every_refill() -> None:
    dispense = {"expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": 2}
    course = _course("MedicationRequest", status="completed", authoredOn="2026-01-01", dispenseRequest=dispense)
    assert course == Course(D(2026, 1, 1), D(2026, 1, 30), D(2026, 1, 1), D(2026, 3, 31))


def test_order_without_duration_proves_its_first_day_only() -> None:
    course = _course("MedicationRequest", status="stopped", authoredOn="2024-01-01")
    assert course == Course(D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 1), ON)
    assert not course.exact


def test_statement_at_one_time_is_not_one_day() -> None:
    course = _course("MedicationStatement", status="completed", effectiveDateTime="2025-05-01")
    assert course == Course(D(2025, 5, 1), D(2025, 5, 1), D(2025, 5, 1), ON)


def test_statement_period() -> None:
    period = {"start": "2025-05", "end": "2025-06-30"}
    course = _course("MedicationStatement", status="completed", effectivePeriod=period)
    assert course == Course(D(2025, 5, 31), D(2025, 6, 30), D(2025, 5, 1), D(2025, 6, 30))


def test_administration_is_its_day() -> None:
    course = _course("MedicationAdministration", status="completed", effectiveDateTime="2026-03-01T10:00:00Z")
    assert course == Course(D(2026, 3, 1), D(2026, 3, 1), D(2026, 3, 1), D(2026, 3, 1))


def test_course_is_clipped_at_on() -> None:
    dispense = {"expectedSupplyDuration": {"value": 90, "code": "d"}}
    course = _course("MedicationRequest", status="completed", authoredOn="2026-11-01", dispenseRequest=dispense)
    assert course == Course(D(2026, 11, 1), ON, D(2026, 11, 1), ON)


def test_undated_record_has_no_course() -> None:
    assert _course("MedicationStatement", status="completed") is None
