"""Shared fixtures: a clean TRIAL_SCREEN_* environment, the loaded trials; and a
clear message for tests that read the shared data (../shared) when that folder is not beside the clone."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from service.screening.registry import LoadedTrial
from tests.paths import SHARED

SHARED_NEEDED = (
    f"some tests read the project's shared data (Synthea bundles, terminology) from the folder `shared` beside "
    f"the repository clone ({SHARED}); put a copy of it (or a link to it) there"
)


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRIAL_SCREEN_"):
            monkeypatch.delenv(name)


def pytest_report_header() -> str | None:
    return None if SHARED.is_dir() else f"WARNING: {SHARED} is missing: {SHARED_NEEDED}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that failed on a file of the shared folder says what is missing, not a bare FileNotFoundError."""
    report = yield
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and isinstance(error, FileNotFoundError) and str(error.filename or "").startswith(str(SHARED)):
        report.longrepr = f"{error.filename} is missing: {SHARED_NEEDED}"
    return report


@pytest.fixture(scope="session")
def trials() -> tuple[LoadedTrial, ...]:
    from mappings.catalog import load_catalog
    from service.screening.registry import bundled_trials_dir, load_trials, trial_files

    return load_trials(trial_files(bundled_trials_dir()), load_catalog())


@pytest.fixture(scope="session")
def trials_by_id(trials: tuple[LoadedTrial, ...]) -> dict[str, LoadedTrial]:
    return {t.id: t for t in trials}
