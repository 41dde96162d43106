"""The trial files' parse trees kept in the cache directory: the same trees as a fresh parse, read back instead of
parsed, never kept for a text with errors, and a bad entry is parsed again."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.criteria import TrialSyntaxError, parser
from tests.unit.criteria.fakes import HEADER

TRIALS = sorted((Path(__file__).parents[3] / "trials").glob("*.trial"))
TEXT = f'{HEADER}inclusion "c" "case":\n  exists [Condition: "lupus"] active\n'


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _refuse_to_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(text: str, file: str) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(parser, "_parse", fail)


@pytest.mark.parametrize("path", TRIALS, ids=lambda p: p.stem)
def test_a_kept_tree_is_the_fresh_parse(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text(encoding="utf-8")
    fresh = parser.parse_trial(text, str(path))
    assert parser.parse_trial(text, str(path), kept=True) == fresh
    _refuse_to_parse(monkeypatch)
    assert parser.parse_trial(text, str(path), kept=True) == fresh


def test_another_text_or_file_name_is_parsed_again(cache: Path) -> None:
    parser.parse_trial(TEXT, "unit.trial", kept=True)
    other = parser.parse_trial(TEXT.replace('"lupus"', '"sle"'), "unit.trial", kept=True)
    assert other.criteria[0].expr == parser.parse_trial(TEXT.replace('"lupus"', '"sle"')).criteria[0].expr
    assert parser.parse_trial(TEXT, "other.trial", kept=True).file == "other.trial"
    assert len(list(cache.glob("trial-ast-*.pickle"))) == 3


def test_only_kept_parses_use_the_cache(cache: Path) -> None:
    parser.parse_trial(TEXT, "unit.trial")
    assert not cache.exists()


def test_a_corrupt_entry_is_parsed_again(cache: Path) -> None:
    fresh = parser.parse_trial(TEXT, "unit.trial", kept=True)
    [entry] = cache.glob("trial-ast-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert parser.parse_trial(TEXT, "unit.trial", kept=True) == fresh


def test_a_text_with_errors_raises_and_is_not_kept(cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(TrialSyntaxError):
            parser.parse_trial(f'{HEADER}inclusion "c" "case":\n  exists [\n', "bad.trial", kept=True)
    assert not list(cache.glob("trial-ast-*.pickle"))


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(blocker / "cache"))
    assert parser.parse_trial(TEXT, "unit.trial", kept=True) == parser.parse_trial(TEXT, "unit.trial")
