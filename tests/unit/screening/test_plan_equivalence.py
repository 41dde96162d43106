"""The evaluation plan's shortcuts change nothing: on random sub-records of the Synthea bundles, the demo patients
and bench-style patients, with random unreadable types, unresolved medication references and evaluation dates,
`Screener.screen` (criteria and sub-expressions that read no concept the patient holds answered by a blank
patient) gives exactly the report of the plain walk of every criterion (`CompiledTrial.start`), and
`screen_for_cards` keeps exactly the trials that report does not rule out, with the same reports.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.patients import patient_resources
from service.demo.patients import load_demo_patients
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_bundle, record_from_resources
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import READ_TYPES
from service.screening.contract import Status
from service.screening.screen import Screener, load_screener, trial_report
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)
DAYS = (ON, ON - dt.timedelta(days=400), ON + dt.timedelta(days=45))


@functools.cache
def _screener() -> Screener:
    return load_screener()


@functools.cache
def _sources() -> tuple[PatientRecord, ...]:
    synthea = [record_from_bundle(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(SYNTHEA.glob("*.json"))]
    demos = [demo.record for demo in load_demo_patients(ON)]
    bench = []
    for seed, size in ((0, 150), (1, 60), (2, 300)):
        resources = patient_resources(size, seed=seed)
        bench.append(record_from_resources(resources[0], resources[1:]))
    return (*synthea, *demos, *bench)


def _dangling(number: int) -> list[Mapping[str, Any]]:
    """Medication requests naming a Medication the record does not hold: the drug is unknown."""
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"dangling-{n}",
            "status": "active",
            "intent": "order",
            "medicationReference": {"reference": f"Medication/absent-{n}"},
            "authoredOn": "2026-01-10",
        }
        for n in range(number)
    ]


@st.composite
def _cases(draw: st.DrawFn) -> tuple[PatientRecord, frozenset[str], dt.date]:
    record = draw(st.sampled_from(_sources()))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    kept = draw(st.sampled_from((0.0, 0.1, 0.5, 0.9, 1.0)))
    resources = {kind: [r for r in found if rng.random() < kept] for kind, found in record.resources.items()}
    resources.setdefault("MedicationRequest", []).extend(_dangling(draw(st.sampled_from((0, 0, 0, 1, 2)))))
    unreadable = frozenset(draw(st.lists(st.sampled_from(sorted(READ_TYPES)), max_size=3)))
    sub_record = PatientRecord(record.patient, {kind: tuple(found) for kind, found in resources.items()})
    return sub_record, unreadable, draw(st.sampled_from(DAYS))


def _plain(screener: Screener, record: PatientRecord, on: dt.date, unreadable: frozenset[str]) -> Sequence[Any]:
    """Every trial's report from the plain walk of every criterion: the reference."""
    facts = PatientFacts(record, screener.catalog, unreadable=unreadable)
    return tuple(trial_report(t, t.compiled.start(facts, on)) for t in screener.trials)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_cases())
def test_the_plan_gives_the_plain_walks_report(case: tuple[PatientRecord, frozenset[str], dt.date]) -> None:
    record, unreadable, on = case
    screener = _screener()
    expected = _plain(screener, record, on, unreadable)
    assert screener.screen(record, on=on, unreadable=unreadable).trials == expected
    kept = [report for report in expected if report.status is not Status.INELIGIBLE]
    assert screener.screen_for_cards(record, on=on, unreadable=unreadable) == kept
