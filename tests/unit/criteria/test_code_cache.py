"""The trials' compiled code kept in the cache directory: the same code objects as a fresh compile, read back
instead of compiled, a changed trial, file name or Python never served an old entry, and a bad entry compiled
again."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from service.criteria import code_cache, load_trial
from service.criteria.checker import check_trial
from service.criteria.codegen import QueryTable, generate
from service.criteria.parser import parse_trial
from tests.unit.criteria.fakes import HEADER, ON, Patient, Vocabulary

TEXT = f'{HEADER}inclusion "c" "case":\n  Latest([Observation: "anc"]) > 1.5 \'10*9/L\'\n'


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _functions(text: str) -> tuple[tuple[int, str], ...]:
    checked = check_trial(parse_trial(text, "unit.trial"), Vocabulary(), text)
    return generate(checked, Vocabulary(), QueryTable()).functions


def _refuse_to_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(functions: object, filename: str) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(code_cache, "_compile", fail)


def test_kept_code_is_the_fresh_compile(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    functions = _functions(TEXT)
    fresh = code_cache.compile_functions(functions, "unit.trial", kept=False)
    assert not cache.exists()  # not kept: the cache is not touched
    assert code_cache.compile_functions(functions, "unit.trial", kept=True) == fresh
    _refuse_to_compile(monkeypatch)
    assert code_cache.compile_functions(functions, "unit.trial", kept=True) == fresh


def test_a_changed_trial_is_compiled_again_not_served_the_old_code(cache: Path) -> None:
    """The stale case: the trial's threshold edited, its generated text changes, so must its code."""
    patient = Patient(values={"anc": 1.0})
    assert load_trial(TEXT, "unit.trial", Vocabulary(), kept=True).evaluate(patient, ON)[0].result == "not-met"
    edited = TEXT.replace("1.5", "0.5")
    assert load_trial(edited, "unit.trial", Vocabulary(), kept=True).evaluate(patient, ON)[0].result == "met"
    assert len(list(cache.glob("trial-code-*.marshal"))) == 2


@pytest.mark.parametrize("change", ["file name", "python", "optimisation"])
def test_another_file_name_or_interpreter_is_compiled_again(
    change: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    functions = _functions(TEXT)
    code_cache.compile_functions(functions, "unit.trial", kept=True)
    filename = "unit.trial"
    if change == "file name":
        filename = "other.trial"
    elif change == "python":
        monkeypatch.setattr(code_cache.importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    else:
        monkeypatch.setattr(code_cache.sys, "flags", type("Flags", (), {"optimize": 2})())
    codes = code_cache.compile_functions(functions, filename, kept=True)
    assert [code.co_filename for code in codes] == [filename] * len(functions)
    assert len(list(cache.glob("trial-code-*.marshal"))) == 2


@pytest.mark.parametrize("content", [b"not marshal", marshal.dumps([1, 2]), marshal.dumps("text"), b""])
def test_a_bad_entry_is_compiled_again(content: bytes, cache: Path) -> None:
    functions = _functions(TEXT)
    fresh = code_cache.compile_functions(functions, "unit.trial", kept=True)
    [entry] = cache.glob("trial-code-*.marshal")
    entry.write_bytes(content)
    assert code_cache.compile_functions(functions, "unit.trial", kept=True) == fresh
    assert marshal.loads(entry.read_bytes()) == fresh  # and kept again


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRIAL_SCREEN_CACHE_DIR", str(blocker / "cache"))
    functions = _functions(TEXT)
    assert code_cache.compile_functions(functions, "unit.trial", kept=True) == code_cache.compile_functions(
        functions, "unit.trial", kept=False
    )
