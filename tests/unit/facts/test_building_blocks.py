"""The pure pieces under the spec cases: FHIR dates, window placement, number display, polarity bounds."""

from __future__ import annotations

import datetime as dt

import pytest

from service.criteria.inputs import Polarity, Window
from service.facts.derived import date_range
from service.facts.history import Timing, place
from service.facts.measurements import fmt
from service.facts.qualitative import polarity

ON = dt.date(2026, 11, 23)
D = dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", (D(2026, 11, 1), D(2026, 11, 1))),
        ("2026-11", (D(2026, 11, 1), D(2026, 11, 30))),
        ("2026", (D(2026, 1, 1), D(2026, 12, 31))),
        ("2026-11-01T23:30:00-05:00", (D(2026, 11, 2), D(2026, 11, 2))),
        ("2026-11-01T23:30:00Z", (D(2026, 11, 1), D(2026, 11, 1))),
        ("2026-11-01T10:00:00.123+02:00", (D(2026, 11, 1), D(2026, 11, 1))),
        ("2026-13", None),
        ("2026-02-30", None),
        ("yesterday", None),
        (None, None),
        (20261101, None),
    ],
)
def test_date_range(text: object, expected: object) -> None:
    assert date_range(text) == expected


def _timing(start: D | None, end: D | None = None, *, ongoing: bool = False, start_by: D | None = None) -> Timing:
    return Timing((start, start) if start else None, (end, end) if end else None, ongoing, start_by, None, ongoing)


@pytest.mark.parametrize(
    ("timing", "window", "expected"),
    [
        (_timing(D(2026, 8, 25), D(2026, 8, 25)), Window(within_days=90), True),
        (_timing(D(2026, 8, 24), D(2026, 8, 24)), Window(within_days=90), False),
        (_timing(D(2020, 1, 1), ongoing=True), Window(within_days=1), True),
        (_timing(D(2020, 1, 1)), Window(within_days=90), None),  # end unknown
        (_timing(D(2026, 10, 1)), Window(within_days=90), True),  # end unknown, but start is inside
        (_timing(None), Window(within_days=90), None),
        (_timing(None), Window(), True),
        (_timing(None, start_by=D(2020, 1, 1), ongoing=True), Window(within_days=90), True),
        (_timing(None, start_by=D(2020, 1, 1)), Window(before_days=365), True),
        (_timing(D(2026, 12, 1), D(2026, 12, 1)), Window(), False),
        (_timing(D(2026, 5, 27)), Window(before_days=180), True),
        (_timing(D(2026, 5, 28)), Window(before_days=180), False),
        (_timing(D(2026, 1, 1), D(2026, 1, 2)), Window(within_days=365, before_days=30), True),
        (_timing(D(2026, 11, 1), D(2026, 11, 2)), Window(within_days=365, before_days=30), False),
    ],
)
def test_place(timing: Timing, window: Window, expected: bool | None) -> None:
    assert place(timing, window, ON) is expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [(11.2, "11.2"), (112.0, "112"), (85.40919826191951, "85.41"), (0.000123456, "0.0001235"), (123456.7, "123457")],
)
def test_fmt(value: float, shown: str) -> None:
    assert fmt(value) == shown


def _no_codes(system: str, code: str) -> Polarity | None:
    return None


def _no_conversion(value: float, from_unit: str, to_unit: str) -> float | None:
    return None


@pytest.mark.parametrize(
    ("comparator", "value", "expected"),
    [
        (None, 100.0, Polarity.NEGATIVE),
        (None, 100.1, Polarity.POSITIVE),
        ("<", 100.0, Polarity.NEGATIVE),
        ("<", 150.0, None),
        ("<=", 100.0, Polarity.NEGATIVE),
        (">", 100.0, Polarity.POSITIVE),
        (">", 50.0, None),
        (">=", 100.0, None),
        (">=", 101.0, Polarity.POSITIVE),
    ],
)
def test_quantity_bounds_against_reference_high(comparator: str | None, value: float, expected: object) -> None:
    quantity: dict[str, object] = {"value": value, "unit": "U/mL"}
    if comparator:
        quantity["comparator"] = comparator
    holder = {"valueQuantity": quantity, "referenceRange": [{"high": {"value": 100, "unit": "U/mL"}}]}
    assert polarity(holder, _no_codes, _no_conversion) is expected


def test_conflicting_codings_decide_nothing() -> None:
    def coded(system: str, code: str) -> Polarity | None:
        return {"p": Polarity.POSITIVE, "n": Polarity.NEGATIVE}.get(code)

    holder = {"valueCodeableConcept": {"coding": [{"system": "s", "code": "p"}, {"system": "s", "code": "n"}]}}
    assert polarity(holder, coded, _no_conversion) is None
