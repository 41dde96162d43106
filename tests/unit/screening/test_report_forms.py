"""The report's two forms agree: plain contract JSON (bulk output, audit rows) and validated models (cards)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.record import PatientRecord
from service.screening.screen import load_screener
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)


@pytest.mark.parametrize("bundle", sorted(SYNTHEA.glob("*.json")), ids=lambda p: p.stem)
def test_plain_json_and_models_give_the_same_report(bundle: Path) -> None:
    screener = load_screener()
    record = record_from_bundle(json.loads(bundle.read_text(encoding="utf-8")))
    plain = screener.screen_json(record, on=ON)
    models = screener.screen(record, on=ON)
    for form in (models.to_json_dict(), models.model_dump(by_alias=True, mode="json")):
        assert {**form, "evaluatedAt": None} == {**plain, "evaluatedAt": None}


def _records() -> list[tuple[str, PatientRecord]]:
    records = [
        (path.stem, record_from_bundle(json.loads(path.read_text(encoding="utf-8"))))
        for path in sorted(SYNTHEA.glob("*.json"))
    ]
    records += [(demo.key, demo.record) for demo in load_demo_patients(ON)]
    return records


@pytest.mark.parametrize(("name", "record"), _records(), ids=lambda value: value if isinstance(value, str) else "")
def test_the_hooks_early_stopping_screen_gives_the_full_reports_of_the_carded_trials(
    name: str, record: PatientRecord
) -> None:
    """Trials dropped early are exactly the ineligible ones, and the others' reports are the full reports."""
    screener = load_screener()
    full = [t.to_json_dict() for t in screener.screen(record, on=ON).trials if t.status != "ineligible"]
    carded = [t.to_json_dict() for t in screener.screen_for_cards(record, on=ON)]
    assert carded == full, name
