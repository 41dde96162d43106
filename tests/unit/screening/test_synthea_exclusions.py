"""Real Synthea patients with cancer, a kidney transplant or HIV are excluded where the seeds say so.

Diagnoses are closed world: a diagnosis code the catalog does not know reads as "absent", which would turn
an exclusion into a wrong "eligible". These bundles use the specific SNOMED CT codes EHRs send.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mappings.catalog import load_catalog
from service.fhir_access.bundle import record_from_bundle
from service.screening.registry import LoadedTrial
from service.screening.screen import Screener
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)

CASES = [
    (
        "04-gilbert-wunsch",
        "non-small cell lung cancer",
        {"uwd-cd19-aid": "malignancy", "cd19-cart-active-sle": "malignancy", "bcma-cd19-aid-anhui": "malignancy"},
    ),
    (
        "05-vito-feeney",
        "metastatic prostate cancer",
        {"uwd-cd19-aid": "malignancy", "bcma-cd19-aid-anhui": "malignancy"},
    ),
    ("09-vella-heathcote", "breast cancer", {"cd19-cart-active-sle": "malignancy"}),
    (
        "07-chuck-batz",
        "history of renal transplant",
        {"cd19-cart-active-sle": "transplant", "bcma-cd19-aid-anhui": "transplant"},
    ),
    (
        "08-lekisha-wilderman",
        "HIV infection",
        {"uwd-cd19-aid": "hiv", "cd19-cart-active-sle": "infection-hiv", "bcma-cd19-aid-anhui": "hiv"},
    ),
]


@pytest.mark.parametrize(("bundle", "why", "exclusions"), CASES, ids=[c[0] for c in CASES])
def test_exclusion_applies(
    bundle: str, why: str, exclusions: dict[str, str], trials_by_id: dict[str, LoadedTrial]
) -> None:
    record = record_from_bundle(json.loads((SYNTHEA / f"{bundle}.json").read_text(encoding="utf-8")))
    for trial_id, criterion_id in exclusions.items():
        report = Screener((trials_by_id[trial_id],), load_catalog()).screen(record, on=ON).trials[0]
        results = {c.id: c.result for c in report.criteria}
        assert results[criterion_id] == "met", f"{bundle} ({why}): {trial_id}/{criterion_id} = {results[criterion_id]}"
        assert report.status == "ineligible"
