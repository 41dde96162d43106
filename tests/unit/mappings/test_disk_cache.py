"""The parsed-YAML cache: same data with or without it, never an error, nothing cached that JSON would change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from mappings.disk_cache import load_yaml

TEXT = "concepts:\n  sle:\n    label: Systemic lupus erythematosus\n    codes: [M32.9, 55464009]\n    score: 1.5\n"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_and_cached_loads_agree(cache: Path) -> None:
    first = load_yaml(TEXT)
    assert first == yaml.safe_load(TEXT)
    assert len(list(cache.glob("yaml-*.json"))) == 1
    assert load_yaml(TEXT) == first


def test_a_corrupt_cache_file_is_ignored(cache: Path) -> None:
    load_yaml(TEXT)
    [cached] = cache.glob("yaml-*.json")
    cached.write_bytes(b"{not json")
    assert load_yaml(TEXT) == yaml.safe_load(TEXT)


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(blocker / "cache"))
    assert load_yaml(TEXT) == yaml.safe_load(TEXT)


def test_data_that_json_would_change_is_not_cached(cache: Path) -> None:
    assert load_yaml("verified: 2026-11-01\n") == {"verified": dt.date(2026, 11, 1)}
    assert not list(cache.glob("yaml-*.json"))


def test_invalid_yaml_still_raises() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [unclosed\n")
