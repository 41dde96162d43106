"""Shared fixtures: a clean TRIAL_SCREEN_* environment and the loaded trials."""

from __future__ import annotations

import os

import pytest

from service.screening.registry import LoadedTrial


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
