"""Clinical-context scenarios: one patient screened against every trial, with expectations per trial.

Cases live in tests/spec/clinical/<family>/<case>.yaml (format: tests/spec/clinical/README.md). Each family
holds the defect a reviewer would try and, next to it, the favourable patient that must stay favourable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.screening.registry import LoadedTrial
from tests.spec.scenarios import check_expected, load_scenario, screen_scenario

SCENARIOS = Path(__file__).parent / "clinical"
CASES = sorted(SCENARIOS.glob("*/*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_clinical_context(path: Path, trials: tuple[LoadedTrial, ...]) -> None:
    spec, _ = load_scenario(path)
    expected = spec["expect"]
    unknown = set(expected) - {t.id for t in trials}
    assert not unknown, f"expectations for unknown trials: {sorted(unknown)}"
    reports = screen_scenario(path, [t for t in trials if t.id in expected])
    for trial_id, expectation in expected.items():
        check_expected(reports[trial_id], expectation, spec.get("description", ""))
