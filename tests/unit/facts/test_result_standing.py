"""qualitative.standing (which results answer a polarity question on a date) and measurements.on_supplemental_oxygen."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.criteria.inputs import Polarity, Window
from service.facts.history import timing_of
from service.facts.index import Entry
from service.facts.measurements import on_supplemental_oxygen
from service.facts.qualitative import standing

ON = dt.date(2026, 11, 23)
POS, NEG = Polarity.POSITIVE, Polarity.NEGATIVE
WEEK = Window(within_days=7)


def _entry(day: str, ident: str = "o", **extra: Any) -> Entry:
    resource = {"resourceType": "Observation", "id": ident, "status": "final", "effectiveDateTime": day, **extra}
    return Entry("Observation", resource, resource, timing_of("Observation", resource), f"Observation/{ident}")


def test_positive_inside_the_window_is_certain() -> None:
    [found] = standing([(_entry("2026-11-20"), POS)], POS, WEEK, ON)
    assert found.certain


def test_positive_older_than_the_window_is_not_erased_but_unknown() -> None:
    [found] = standing([(_entry("2026-11-13"), POS)], POS, WEEK, ON)
    assert not found.certain
    assert found.doubt == "positive more than 7 days ago, no result since"


def test_later_negative_supersedes_and_counts_only_when_fresh() -> None:
    results = [(_entry("2026-11-13", "p"), POS), (_entry("2026-11-21", "n"), NEG)]
    assert standing(results, POS, WEEK, ON) == []
    assert [s.entry.reference for s in standing(results, NEG, WEEK, ON)] == ["Observation/n"]
    assert standing([(_entry("2026-10-01"), NEG)], NEG, WEEK, ON) == []


def test_unreadable_latest_is_unknown_for_positive_and_never_negative() -> None:
    results = [(_entry("2026-11-01", "n"), NEG), (_entry("2026-11-20", "u"), None)]
    [found] = standing(results, POS, WEEK, ON)
    assert not found.certain
    assert found.polarity is None
    assert standing(results, NEG, WEEK, ON) == []


def test_same_day_disagreement_is_unknown() -> None:
    results = [(_entry("2026-11-20", "a"), POS), (_entry("2026-11-20", "b"), NEG)]
    assert {s.certain for s in standing(results, POS, WEEK, ON)} == {False}
    assert standing(results, NEG, WEEK, ON) == []


def test_ever_analytes_keep_a_historical_positive_without_a_window() -> None:
    results = [(_entry("2020-01-01", "p"), POS), (_entry("2026-11-01", "n"), NEG)]
    [found] = standing(results, POS, Window(), ON, ever=True)
    assert found.certain
    assert found.entry.reference == "Observation/p"
    assert standing(results, NEG, Window(), ON, ever=True) == []
    assert standing(results, POS, Window(within_days=90), ON, ever=True) == []  # a window: the latest decides


def test_a_positive_older_than_its_lapse_says_nothing() -> None:
    assert standing([(_entry("2024-11-01"), POS)], POS, WEEK, ON, lapses_days=294) == []


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _convert(value: float, from_unit: str, to_unit: str, analyte: str) -> float | str:
    return value if from_unit == to_unit else "not convertible"


def test_oxygen_component_flow_above_zero_is_supplemental() -> None:
    flow = {"code": {}, "valueQuantity": _quantity(2, "L/min")}
    reading = _entry("2026-11-13T10:00:00Z", component=[flow])
    component = Entry("Observation", reading.resource, flow, reading.timing, reading.reference)
    assert on_supplemental_oxygen(reading, [component], _convert) is True


def test_room_air_fio2_at_the_same_time_is_not_supplemental() -> None:
    reading = _entry("2026-11-13T10:00:00Z", "s")
    fio2 = _entry("2026-11-13T10:00:00Z", "f", valueQuantity=_quantity(21, "%"))
    assert on_supplemental_oxygen(reading, [fio2], _convert) is False


def test_oxygen_on_another_occasion_or_unreadable() -> None:
    reading = _entry("2026-11-13T10:00:00Z", "s", encounter={"reference": "Encounter/1"})
    other_day = _entry("2026-10-01T10:00:00Z", "f", valueQuantity=_quantity(3, "L/min"))
    assert on_supplemental_oxygen(reading, [other_day], _convert) is False
    same_encounter = _entry("2026-11-13T09:00:00Z", "g", encounter={"reference": "Encounter/1"}, valueString="some")
    assert on_supplemental_oxygen(reading, [same_encounter], _convert) is None
