"""`Screener.screen_unless_ruled_out` (what population runs call) agrees with the full report, patient by patient.

On every Synthea bundle and demo patient, on two dates: a trial it ruled out is ineligible in the full report and
it names exactly the criteria the full report shows as disqualifying; any other trial's report is the full one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.record import PatientRecord
from service.screening.contract import Status
from service.screening.screen import Screener, load_screener
from tests.paths import SYNTHEA

DATES = (dt.date(2026, 11, 23), dt.date(2024, 3, 1))


def _records(on: dt.date) -> Iterator[tuple[str, PatientRecord]]:
    for path in sorted(SYNTHEA.glob("*.json")):
        yield f"synthea-{path.stem}", record_from_bundle(json.loads(path.read_text(encoding="utf-8")))
    for demo in load_demo_patients(on):
        yield f"demo-{demo.key}", demo.record


@pytest.fixture(scope="module")
def screener() -> Screener:
    return load_screener()


@pytest.mark.parametrize("on", DATES, ids=str)
def test_agrees_with_the_full_report(screener: Screener, on: dt.date) -> None:
    ruled_out = kept = 0
    for name, record in _records(on):
        full = screener.screen(record, on=on).trials
        answers = screener.screen_unless_ruled_out(record, on=on)
        assert [t.id for t, _ in answers] == [t.id for t in full], name
        for (trial, answer), report in zip(answers, full, strict=True):
            if isinstance(answer, tuple):
                ruled_out += 1
                assert report.status is Status.INELIGIBLE, (name, trial.id)
                assert answer == tuple(c.id for c in report.criteria if c.is_disqualifying), (name, trial.id)
            else:
                kept += 1
                assert answer == report, (name, trial.id)
    assert ruled_out  # both kinds of answer were checked
    assert kept


def test_one_trial(screener: Screener) -> None:
    record = next(record for _, record in _records(DATES[0]))
    trial = screener.trials[-1].id
    assert [t.id for t, _ in screener.screen_unless_ruled_out(record, on=DATES[0], trial_id=trial)] == [trial]
