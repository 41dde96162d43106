"""The report's two forms agree: plain contract JSON (bulk output, audit rows) and validated models (cards)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from service.fhir_access.bundle import record_from_bundle
from service.screening.screen import load_screener

SYNTHEA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "synthea"
ON = dt.date(2026, 11, 23)


@pytest.mark.parametrize("bundle", sorted(SYNTHEA.glob("*.json")), ids=lambda p: p.stem)
def test_plain_json_and_models_give_the_same_report(bundle: Path) -> None:
    screener = load_screener()
    record = record_from_bundle(json.loads(bundle.read_text(encoding="utf-8")))
    plain = screener.screen_json(record, on=ON)
    models = screener.screen(record, on=ON)
    for form in (models.to_json_dict(), models.model_dump(by_alias=True, mode="json")):
        assert {**form, "evaluatedAt": None} == {**plain, "evaluatedAt": None}
