"""Every scenario under tests/spec/trials/<trial-id>/*.yaml screens to its expected statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.screening.registry import LoadedTrial
from tests.spec.scenarios import check_expected, load_scenario, screen_scenario

SCENARIOS = Path(__file__).parent / "trials"
CASES = sorted(SCENARIOS.glob("*/*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_scenario(path: Path, trials_by_id: dict[str, LoadedTrial]) -> None:
    trial = trials_by_id[path.parent.name]
    spec, _ = load_scenario(path)
    check_expected(screen_scenario(path, (trial,))[trial.id], spec["expect"], spec.get("description", ""))
