"""Spec cases of the facts layer, kept as data: tests/spec/policies/*.yaml (clinical-policies.md).

Each file has `cases`; each case has `given` FHIR resources (small dicts; added to the file's `given`), an
optional `patient`, `on` (evaluation date, default 2026-11-23), `unreadable` resource types, one question
(`latest`, `events`, `birth_date_range` or `sex`) and `expect`. Unknown case keys fail loudly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappings.catalog import load_catalog
from service.criteria.inputs import (
    Event,
    EventQuery,
    EventStatus,
    Measurement,
    MeasurementQuery,
    Missing,
    Polarity,
    Window,
)
from service.facts.patient_facts import PatientFacts
from service.fhir_access.record import PatientRecord

SPEC = Path(__file__).resolve().parents[2] / "spec" / "policies"
FILES = sorted(SPEC.glob("*.yaml"))
ON = dt.date(2026, 11, 23)
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-05-12", "gender": "female"}
CASE_KEYS = {"id", "given", "patient", "on", "unreadable", "latest", "events", "birth_date_range", "sex", "expect"}
QUESTIONS = ("latest", "events", "birth_date_range", "sex")


def _cases() -> list[Any]:
    params = []
    for path in FILES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        shared = data.get("given", [])
        for case in data["cases"]:
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{path.name}: {case.get('id')}: unknown keys {unknown}"
            params.append(pytest.param(path.name, shared, case, id=case["id"]))
    return params


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _window(spec: Mapping[str, Any]) -> Window:
    return Window(within_days=spec.get("within_days"), before_days=spec.get("before_days"))


def _concepts(spec: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(spec["concepts"]) if "concepts" in spec else frozenset({spec["concept"]})


def _facts(shared: list[Any], case: Mapping[str, Any]) -> PatientFacts:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for resource in [*shared, *case.get("given", [])]:
        grouped.setdefault(resource["resourceType"], []).append(resource)
    patient = {**PATIENT, **case.get("patient", {})}
    patient = {k: v for k, v in patient.items() if v is not None}
    record = PatientRecord(patient=patient, resources={k: tuple(v) for k, v in grouped.items()})
    return PatientFacts(record, load_catalog(), unreadable=frozenset(case.get("unreadable", [])))


def _ask(facts: PatientFacts, case: Mapping[str, Any], on: dt.date) -> Any:
    asked = [q for q in QUESTIONS if q in case]
    assert len(asked) == 1, f"exactly one question per case, got {asked}"
    question = asked[0]
    spec = case[question]
    if question == "latest":
        query = MeasurementQuery(_concepts(spec), spec["unit"], _window(spec))
        return facts.latest(query, on)
    if question == "events":
        status = EventStatus(spec.get("status", "any"))
        polarity = Polarity(spec["polarity"]) if spec.get("polarity") else None
        return facts.events(EventQuery(spec["kind"], _concepts(spec), _window(spec), status, polarity), on)
    if question == "birth_date_range":
        return facts.birth_date_range()
    return facts.sex()


def _check(answer: Any, expect: Mapping[str, Any]) -> None:
    if "missing" in expect:
        assert isinstance(answer, Missing), f"expected Missing, got {answer}"
        assert answer.reason == expect["missing"]
        return
    if "missing_contains" in expect:
        assert isinstance(answer, Missing), f"expected Missing, got {answer}"
        assert expect["missing_contains"] in answer.reason
        return
    assert not isinstance(answer, Missing), f"unexpected {answer}"
    if isinstance(answer, Measurement):
        _check_measurement(answer, expect)
    elif "range" in expect:
        assert answer == (_date(expect["range"][0]), _date(expect["range"][1]))
    elif isinstance(answer, tuple):
        _check_events(answer, expect)
    else:
        assert answer == expect["value"]


def _check_measurement(answer: Measurement, expect: Mapping[str, Any]) -> None:
    known = {"value", "unit", "reference", "display", "taken", "note"}
    assert set(expect) <= known, f"unknown expect keys {set(expect) - known}"
    if "value" in expect:
        assert answer.value == pytest.approx(expect["value"], rel=1e-6)
    if "unit" in expect:
        assert answer.unit == expect["unit"]
    if "reference" in expect:
        assert answer.evidence.reference == expect["reference"]
    if "display" in expect:
        assert answer.evidence.display == expect["display"]
    if "taken" in expect:
        assert answer.taken == _date(expect["taken"])
    if "note" in expect:
        assert answer.note == expect["note"]


def _check_events(answer: tuple[Event, ...], expect: Mapping[str, Any]) -> None:
    known = {"count", "certain", "references", "displays", "start", "end"}
    assert set(expect) <= known, f"unknown expect keys {set(expect) - known}"
    if "count" in expect:
        assert len(answer) == expect["count"]
    if "certain" in expect:
        assert [e.certain for e in answer] == expect["certain"]
    if "references" in expect:
        assert sorted(e.evidence.reference for e in answer) == sorted(expect["references"])
    if "displays" in expect:
        assert [e.evidence.display for e in answer] == expect["displays"]
    if "start" in expect:
        assert answer[0].start == (None if expect["start"] is None else _date(expect["start"]))
    if "end" in expect:
        assert answer[0].end == (None if expect["end"] is None else _date(expect["end"]))


def test_spec_files_exist() -> None:
    assert FILES, f"no spec files in {SPEC}"


@pytest.mark.parametrize(("file", "shared", "case"), _cases())
def test_policy(file: str, shared: list[Any], case: Mapping[str, Any]) -> None:
    facts = _facts(shared, case)
    on = _date(case.get("on", ON))
    answer = _ask(facts, case, on)
    try:
        _check(answer, case["expect"])
    except AssertionError as exc:
        raise AssertionError(
            f"{file}: {case['id']}\n  expected: {case['expect']}\n  actual:   {answer}\n  {exc}"
        ) from exc
