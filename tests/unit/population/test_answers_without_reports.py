"""A population run's answers without reports (`Screener.evaluations` read through a `TrialPlan`) give the counts and
rows that the full reports give, patient by patient.

On every Synthea bundle and demo patient, on two dates, and on random outcomes of every bundled trial (hypothesis):
the same statuses per trial and arm, the same feasibility counts and the same candidate rows, whatever statuses the
rows are asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.criteria import CriterionOutcome, Evaluation, Evidence
from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.record import PatientRecord
from service.population.candidates import candidate_rows
from service.population.feasibility import Arm, Feasibility
from service.population.trial_plan import Screened, from_outcomes, plans
from service.screening.contract import TrialReport
from service.screening.registry import LoadedTrial
from service.screening.screen import Screener, load_screener, trial_report
from tests.paths import SYNTHEA
from tests.unit.population.report_answers import from_report

DATES = (dt.date(2026, 11, 23), dt.date(2024, 3, 1))
EVERY_STATUS = frozenset({"eligible", "possibly-eligible", "ineligible"})
PATIENT = {"id": "p", "birthDate": "1980-01-02", "name": [{"family": "Doe", "given": ["Jane"]}]}
RESOURCES = [
    {"resourceType": "Observation", "id": "a", "effectiveDateTime": "2025-01-02T10:00:00Z"},
    {"resourceType": "Condition", "id": "b", "recordedDate": "2024-05-06"},
]


def _records(on: dt.date) -> Iterator[tuple[str, PatientRecord]]:
    for path in sorted(SYNTHEA.glob("*.json")):
        yield f"synthea-{path.stem}", record_from_bundle(json.loads(path.read_text(encoding="utf-8")))
    for demo in load_demo_patients(on):
        yield f"demo-{demo.key}", demo.record


@pytest.fixture(scope="module")
def screener() -> Screener:
    return load_screener()


def _outputs(answers: Sequence[Screened], resources: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    """What a bucket writes of one patient's answers: the counts and the rows for either choice of statuses."""
    feasibility = Feasibility()
    for answer in answers:
        feasibility.add(answer)
    return (
        [(a.plan.id, a.status, a.arm_statuses) for a in answers],
        feasibility,
        candidate_rows("Patient/p", answers, PATIENT, resources, frozenset({"eligible", "possibly-eligible"})),
        candidate_rows("Patient/p", answers, PATIENT, resources, EVERY_STATUS, 2),
    )


@pytest.mark.parametrize("on", DATES, ids=str)
def test_agrees_with_the_full_report(screener: Screener, on: dt.date) -> None:
    trial_plans = plans(screener.trials)
    statuses: set[str] = set()
    for name, record in _records(on):
        full = screener.screen(record, on=on).trials
        evaluations = screener.evaluations(record, on=on)
        assert [t.id for t, _ in evaluations] == [t.id for t in full], name
        lean = [from_outcomes(p, t, e.all()) for p, (t, e) in zip(trial_plans, evaluations, strict=True)]
        reported = list(map(from_report, trial_plans, full))
        resources = [r for typed in record.resources.values() for r in typed]
        assert _outputs(lean, resources) == _outputs(reported, resources), name
        statuses.update(a.status for a in lean)
    assert statuses == EVERY_STATUS  # every kind of answer was checked


def test_one_trial(screener: Screener) -> None:
    record = next(record for _, record in _records(DATES[0]))
    trial = screener.trials[-1].id
    assert [t.id for t, _ in screener.evaluations(record, on=DATES[0], trial_id=trial)] == [trial]


class _Evaluated:
    """An evaluation whose outcomes are given: what `trial_report` reads of one."""

    def __init__(self, outcomes: list[CriterionOutcome]) -> None:
        self.outcomes = outcomes
        self.blank_outcomes = None
        self.own = range(len(outcomes))

    def all(self) -> list[CriterionOutcome]:
        return list(self.outcomes)


_RESULTS = st.sampled_from(["met", "not-met", "unknown", "manual"])
_MISSING = st.lists(st.sampled_from(["ANC", "eGFR", "SLEDAI", "pregnancy test"]), max_size=2).map(tuple)
_EVIDENCE = st.lists(st.sampled_from(["Observation/a", "Condition/b", "Observation/z"]), max_size=2).map(
    lambda refs: tuple(Evidence(r, r) for r in refs)
)


@functools.cache
def _bundled() -> Screener:
    return load_screener()


@st.composite
def _trial_and_outcomes(draw: st.DrawFn) -> tuple[LoadedTrial, list[CriterionOutcome]]:
    trial = draw(st.sampled_from(_bundled().trials))
    outcomes = [
        CriterionOutcome(criterion, draw(_RESULTS), draw(_EVIDENCE), draw(_MISSING))
        for criterion in trial.compiled.trial.criteria
    ]
    return trial, outcomes


@settings(max_examples=300, deadline=None)
@given(_trial_and_outcomes())
def test_random_outcomes_agree_with_their_report(case: tuple[LoadedTrial, list[CriterionOutcome]]) -> None:
    trial, outcomes = case
    (plan,) = plans([trial])
    report = trial_report(trial, cast(Evaluation, _Evaluated(outcomes)))
    lean = [from_outcomes(plan, trial, outcomes)]
    assert _outputs(lean, RESOURCES) == _outputs([from_report(plan, report)], RESOURCES)
    assert {key: _counted(arm) for key, arm in _outputs(lean, RESOURCES)[1].arms.items()} == _expected_counts(report)


def _counted(arm: Arm) -> tuple[Counter[str], ...]:
    return arm.statuses, arm.first_exclusion, arm.excluded_by, arm.missing


def _expected_counts(report: TrialReport) -> dict[tuple[str, str], tuple[Counter[str], ...]]:
    """One patient's counts per arm read straight off the report's lines: every disqualifying criterion of the
    arm (the first in file order excluded first); else, if possibly eligible, the missing data of its unknown ones."""
    expected = {}
    for arm_id, status in [(c.id, str(c.status)) for c in report.cohorts] or [("", str(report.status))]:
        lines = [c for c in report.criteria if c.cohort in (None, arm_id or None)]
        excluded = [c.id for c in lines if c.is_disqualifying]
        unknown = {m for c in lines if c.result == "unknown" for m in c.missing}
        missing = unknown if status == "possibly-eligible" and not excluded else set()
        expected[(report.id, arm_id)] = (Counter([status]), Counter(excluded[:1]), Counter(excluded), Counter(missing))
    return expected
