"""Shared fixtures: a fixed evaluation date, a clean TRIAL_SCREEN_* environment, the loaded trials."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from service.screening.registry import LoadedTrial

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EVALUATION_DATE = dt.date(2026, 11, 23)


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRIAL_SCREEN_"):
            monkeypatch.delenv(name)
    return


@pytest.fixture(scope="session")
def trials() -> tuple[LoadedTrial, ...]:
    from mappings.catalog import load_catalog
    from service.screening.registry import bundled_trials_dir, load_trials, trial_files

    return load_trials(trial_files(bundled_trials_dir()), load_catalog())


@pytest.fixture(scope="session")
def trials_by_id(trials: tuple[LoadedTrial, ...]) -> dict[str, LoadedTrial]:
    return {t.id: t for t in trials}
