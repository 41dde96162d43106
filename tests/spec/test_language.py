"""Spec cases of the criteria language, kept as data: tests/spec/language/*.yaml.

Each file has `given` (a patient as the evaluator sees it, and the vocabulary) and `cases`, each with an
`expr` and either the `result` (met / not-met / unknown, optionally `missing`) or an `error` with its
`line`, `column` and a `message` fragment. The expression becomes the body of one inclusion criterion.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.criteria import (
    Course,
    CriteriaError,
    Event,
    EventQuery,
    EventStatus,
    Evidence,
    Measurement,
    MeasurementQuery,
    Missing,
    load_trial,
)

FILES = sorted((Path(__file__).parent / "language").glob("*.yaml"))
ON = dt.date(2026, 11, 23)
HEADER = 'trial "spec"\n'  # the expression starts on line 3, column 3


class SpecVocabulary:
    """A real, tiny Vocabulary over the file's `vocabulary` section."""

    def __init__(self, concepts: dict[str, dict[str, Any]]) -> None:
        self.concepts = concepts

    def has_concept(self, concept: str, kind: str) -> bool:
        return concept in self.concepts and kind in self.concepts[concept]["kinds"]

    def concept_unit(self, concept: str) -> str | None:
        unit: str | None = self.concepts[concept].get("unit")
        return unit

    def is_commensurable(self, concept: str, unit: str) -> bool:
        return unit in self.concepts[concept].get("commensurable", [self.concept_unit(concept)])

    def label(self, concept: str) -> str:
        return str(self.concepts[concept].get("label", concept))

    def half_life_hours(self, concept: str) -> float | None:
        hours = self.concepts[concept].get("half_life_hours")
        return None if hours is None else float(hours)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class SpecPatient:
    """A real, tiny PatientData over the file's `patient` section (dates are absolute)."""

    def __init__(self, given: dict[str, Any]) -> None:
        self.given = given

    def birth_date_range(self) -> tuple[dt.date, dt.date] | Missing:
        born = self.given.get("birth")
        if born is None:
            return Missing("Date of birth")
        low, high = (born, born) if not isinstance(born, list) else born
        return (_date(low), _date(high))  # type: ignore[return-value]

    def sex(self) -> str | Missing:
        return str(self.given["sex"]) if "sex" in self.given else Missing("Administrative sex")

    def events(self, query: EventQuery, on: dt.date) -> list[Event]:
        found = []
        for item in self.given.get("events", []):
            if item["kind"] != query.kind or item["concept"] not in query.concepts:
                continue
            if query.polarity is not None and item.get("polarity") != query.polarity.value:
                continue
            if query.status is EventStatus.ACTIVE and not item.get("active", True):
                continue
            start, end = _date(item.get("start")), _date(item.get("end"))
            certain = True
            if query.window.within_days is not None or query.window.before_days is not None:
                if start is None:
                    certain = False
                else:
                    last = end or start
                    if query.window.within_days is not None and (on - last).days > query.window.within_days:
                        continue
                    if query.window.before_days is not None and (on - start).days < query.window.before_days:
                        continue
            # a medication without an end proves its first day and may have lasted until `on`
            course = None if start is None else Course(start, end or start, start, end or on)
            found.append(Event(Evidence(item["ref"], item["ref"]), start, end, certain, course=course))
        return found

    def latest(self, query: MeasurementQuery, on: dt.date) -> Measurement | Missing:
        for concept in sorted(query.concepts):
            item = self.given.get("measurements", {}).get(concept)
            if item is not None:
                key = "uln_ratio" if query.unit == "ULN" else "value"
                return Measurement(float(item[key]), query.unit, Evidence(item["ref"], item["ref"]))
        return Missing(f"{' or '.join(sorted(query.concepts))} value")


def _cases() -> list[Any]:
    params = []
    for path in FILES:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            params.append(pytest.param(spec, case, id=f"{path.stem}/{case['id']}"))
    return params


@pytest.mark.parametrize(("spec", "case"), _cases())
def test_language_case(spec: dict[str, Any], case: dict[str, Any]) -> None:
    defines = "".join(f"define {name}:\n  {body}\n" for name, body in (case.get("defines") or {}).items())
    text = f'{HEADER}inclusion "c" "case":\n  {case["expr"]}\n{defines}'
    vocabulary = SpecVocabulary(spec.get("vocabulary", {}))
    if "error" in case:
        with pytest.raises(CriteriaError) as caught:
            load_trial(text, "spec.trial", vocabulary)
        first = caught.value.diagnostics[0]
        expected = case["error"]
        assert expected["message"] in first.message, str(caught.value)
        assert (first.line, first.column) == (expected["line"], expected["column"]), str(caught.value)
        return
    trial = load_trial(text, "spec.trial", vocabulary)
    outcome = trial.evaluate(SpecPatient(spec.get("patient", {})), ON)[0]
    assert outcome.result == case["result"], f"{case['expr']}\n{trial.trial.criteria[0].expr}\n{outcome}"
    for text_part in case.get("missing", []):
        assert any(text_part in m for m in outcome.missing), outcome.missing


def test_a_problem_inside_between_is_reported_once() -> None:
    text = f'{HEADER}inclusion "c" "case":\n  Latest([Observation: "nope"]) between 1 and 2\n'
    vocabulary = SpecVocabulary({"anc": {"kinds": ["Observation"], "unit": "10*9/L"}})
    with pytest.raises(CriteriaError) as caught:
        load_trial(text, "spec.trial", vocabulary)
    assert len(caught.value.diagnostics) == 1, str(caught.value)
