"""The report's JSON form reads back to the same report, and the hook's early-stopping screen gives exactly the
full reports of the trials it cards."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import FrozenInstanceError, fields

import orjson
import pytest
from pydantic import TypeAdapter

from service.demo.patients import load_demo_patients
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.record import PatientRecord
from service.screening.contract import CriterionReport, CriterionResult, ScreeningReport, Status, TrialReport
from service.screening.screen import load_screener
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)


def _records() -> list[tuple[str, PatientRecord]]:
    records = [
        (path.stem, record_from_bundle(json.loads(path.read_text(encoding="utf-8"))))
        for path in sorted(SYNTHEA.glob("*.json"))
    ]
    records += [(demo.key, demo.record) for demo in load_demo_patients(ON)]
    return records


@pytest.mark.parametrize(("name", "record"), _records(), ids=lambda value: value if isinstance(value, str) else "")
def test_the_json_form_reads_back_to_the_same_report(name: str, record: PatientRecord) -> None:
    """What the audit stores and the pages read back is the report that was shown, with every enum restored."""
    report = load_screener().screen(record, on=ON)
    assert ScreeningReport.from_json(report.to_json()) == report, name
    for trial in report.trials:
        assert TrialReport.from_json(trial.to_json()) == trial, name


def _plain_types(value: object) -> object:
    """The value with each leaf paired with its type's name (a StrEnum member is not a plain str)."""
    if isinstance(value, dict):
        return {key: _plain_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_types(item) for item in value]
    return type(value).__name__, value


@pytest.mark.parametrize(("name", "record"), _records(), ids=lambda value: value if isinstance(value, str) else "")
def test_the_json_form_is_what_pydantic_gives(name: str, record: PatientRecord) -> None:
    """`to_json` builds the dicts itself: key for key, type for type and byte for byte pydantic's serializer."""
    report = load_screener().screen(record, on=ON)
    expected = TypeAdapter(ScreeningReport).dump_python(report, mode="json", by_alias=True)
    produced = report.to_json()
    assert _plain_types(produced) == _plain_types(expected), name
    assert orjson.dumps(produced) == orjson.dumps(expected), name
    for trial in report.trials:
        assert trial.to_json() == TypeAdapter(TrialReport).dump_python(trial, mode="json", by_alias=True), name


@pytest.mark.parametrize(("name", "record"), _records(), ids=lambda value: value if isinstance(value, str) else "")
def test_the_hooks_early_stopping_screen_gives_the_full_reports_of_the_carded_trials(
    name: str, record: PatientRecord
) -> None:
    """Trials dropped early are exactly the ineligible ones, and the others' reports are the full reports."""
    screener = load_screener()
    full = [t for t in screener.screen(record, on=ON).trials if t.status is not Status.INELIGIBLE]
    assert screener.screen_for_cards(record, on=ON) == full, name


def test_a_report_that_is_not_the_contracts_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        TrialReport.from_json(
            {"id": "t", "title": "T", "registryId": None, "status": "likely", "cohorts": [], "criteria": []}
        )


def test_report_lines_without_evidence_are_built_once_for_every_patient() -> None:
    """A line without evidence says nothing about the patient: two patients with the same result and missing data
    get the same line object (its JSON built once); a line with evidence is always the patient's own."""
    screener = load_screener()
    (_, first), (_, second) = _records()[:2]
    pairs = [
        (a, b)
        for one, other in zip(screener.screen(first, on=ON).trials, screener.screen(second, on=ON).trials, strict=True)
        for a, b in zip(one.criteria, other.criteria, strict=True)
    ]
    plain = [(a, b) for a, b in pairs if not a.evidence and (a.result, a.missing) == (b.result, b.missing)]
    assert plain
    assert all(a is b for a, b in plain)
    assert all(a is not b for a, b in pairs if a.evidence or b.evidence)


def test_a_line_made_of_an_outcome_is_the_dataclass_and_as_frozen() -> None:
    """`CriterionReport.of` sets the slots itself: the line equals the one the dataclass builds, field for field."""
    screener = load_screener()
    (_, record), *_ = _records()
    trial = screener.trials[0]
    evaluated = trial.compiled.start(PatientFacts(record, screener.catalog), ON).all()
    for outcome in evaluated:
        line = CriterionReport.of(outcome)
        criterion = outcome.criterion
        expected = CriterionReport(
            criterion.id,
            criterion.cohort,
            criterion.kind,
            criterion.text,
            CriterionResult(outcome.result),
            outcome.evidence,
            outcome.missing,
        )
        assert line == expected
        assert [getattr(line, f.name) for f in fields(line)] == [getattr(expected, f.name) for f in fields(expected)]
    with pytest.raises(FrozenInstanceError):
        line.result = CriterionResult.MET  # type: ignore[misc]
