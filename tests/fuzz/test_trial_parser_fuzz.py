"""Parser fuzzing (issue 6, item 3): mutants of the real trial files load cleanly or fail with positions.

A fixed budget of mutants (seeded ``random.Random``) of every ``trials/*.trial``: characters and tokens deleted,
duplicated, swapped; truncation; random unicode inserted; identifiers, units and concept strings replaced.
For each mutant, ``load_trial`` (parse, check, compile) either succeeds or raises ``CriteriaError`` whose
diagnostics all have line >= 1, column >= 1 and a message. Any other exception, or a load taking longer than
PER_INPUT_SECONDS (``signal.alarm`` interrupts a hang), fails the test with the mutant's recipe.
Then the CLI once: ``trial-screen check DIR`` with a broken file exits 1 and prints ``file:line:col: message``.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import FrameType

import pytest

from mappings import units
from mappings.catalog import Catalog, load_catalog
from service.criteria import CriteriaError, load_trial

REPO = Path(__file__).resolve().parents[2]
TRIAL_FILES = sorted((REPO / "trials").glob("*.trial"))
SEED = 1234
MUTANTS = 400
PER_INPUT_SECONDS = 5

_TOKEN = re.compile(r"\s+|\"[^\"\n]*\"|'[^'\n]*'|[A-Za-z_][A-Za-z0-9_-]*|\d+(?:\.\d+)?|--[^\n]*|.", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ODD_TEXT = [
    "\x00", "\t", "\r", "\r\n", "\x0b", "\x0c", "\u00a0", "\u200b", "\u202e", "\ufeff", "\u2028", "\ud800",
    "é", "\u0301", "≥", "≤", "×", "µ", "😀", "𝕏", "中文", '"', "'", "\\", "(", ")", "[", "]", ":", ",",
    "--", "/*", "{", "}", "\n", "  ", "define", "inclusion", "exclusion", "cohort", "trial", "and", "or",
    "not", "exists", "within", "Latest", "Today()", "1e309", "-0", "99999999999999999999999", "0.0000001",
]  # fmt: skip
ODD_UNITS = ["'kg'", "'g/L'", "'10*9/L'", "'mg/dL'", "'umol/L'", "'x'", "''", "'Cel'", "'[IU]/mL'", "'mL/min'", "'%'"]
ODD_CONCEPTS = ['"anc"', '"hemoglobin"', '"sle"', '"no-such-concept"', '""', '"glucocorticoid"', '"hcg-pregnancy"']
ODD_NAMES = [
    "Latest", "Positive", "Count", "Foo", "x", "Observation", "Condition", "Medication", "days", "and",
    "AgeInYears", "CreatinineClearance", "MostRecent", "Exposure", "LongestExposure", "unknown", "between", "ULN",
]  # fmt: skip


@cache
def catalog() -> Catalog:
    return load_catalog()


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _pick_index(rng: random.Random, tokens: list[str], want: Callable[[str], bool]) -> int | None:
    candidates = [i for i, t in enumerate(tokens) if want(t)]
    return rng.choice(candidates) if candidates else None


def mutate(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """One to three random edits of `text`; returns the mutant and a readable recipe."""
    recipe: list[str] = []
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(
            [
                "del-char", "dup-char", "swap-chars", "insert-odd", "truncate", "del-token", "dup-token",
                "swap-tokens", "replace-ident", "replace-unit", "replace-concept", "replace-number", "del-line",
            ]
        )  # fmt: skip
        if not text:
            text = rng.choice(ODD_TEXT)
            recipe.append("empty->odd")
            continue
        pos = rng.randrange(len(text))
        if op == "del-char":
            text = text[:pos] + text[pos + 1 :]
        elif op == "dup-char":
            text = text[:pos] + text[pos] + text[pos:]
        elif op == "swap-chars" and pos + 1 < len(text):
            text = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2 :]
        elif op == "insert-odd":
            text = text[:pos] + rng.choice(ODD_TEXT) + text[pos:]
        elif op == "truncate":
            text = text[:pos]
        elif op == "del-line":
            lines = text.split("\n")
            del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        else:
            tokens = _tokens(text)
            i = rng.randrange(len(tokens))
            if op == "del-token":
                del tokens[i]
            elif op == "dup-token":
                tokens.insert(i, tokens[i])
            elif op == "swap-tokens":
                j = rng.randrange(len(tokens))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            elif op == "replace-ident":
                k = _pick_index(rng, tokens, lambda t: bool(_IDENT.fullmatch(t)))
                if k is not None:
                    others = [t for t in tokens if _IDENT.fullmatch(t)]
                    tokens[k] = rng.choice([*ODD_NAMES, rng.choice(others), tokens[k] + "x", tokens[k].upper()])
            elif op == "replace-unit":
                k = _pick_index(rng, tokens, lambda t: t.startswith("'") and t.endswith("'") and len(t) > 1)
                if k is not None:
                    tokens[k] = rng.choice(ODD_UNITS)
            elif op == "replace-concept":
                k = _pick_index(rng, tokens, lambda t: t.startswith('"') and t.endswith('"') and len(t) > 1)
                if k is not None:
                    tokens[k] = rng.choice([*ODD_CONCEPTS, tokens[k][:-1] + 'x"', '"' + rng.choice(ODD_TEXT) + '"'])
            elif op == "replace-number":
                k = _pick_index(rng, tokens, lambda t: t[:1].isdigit())
                if k is not None:
                    tokens[k] = rng.choice(["0", "-1", "1e309", "00", "1.5", "99999999999999999999", "0.0"])
            text = "".join(tokens)
        recipe.append(f"{op}@{pos}")
    return text, recipe


class _HangError(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise _HangError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_one(text: str, file: str) -> str:
    """'ok' or 'error'; raises AssertionError for anything but a clean CriteriaError."""
    started = time.perf_counter()
    problem: CriteriaError | None = None
    try:
        with time_limit(PER_INPUT_SECONDS):
            load_trial(text, file, catalog())
    except CriteriaError as exc:
        problem = exc
    if problem is not None:
        assert problem.diagnostics, "CriteriaError without diagnostics"
        for d in problem.diagnostics:
            assert isinstance(d.line, int), f"line {d.line!r}: {d}"
            assert d.line >= 1, f"line {d.line!r}: {d}"
            assert isinstance(d.column, int), f"column {d.column!r}: {d}"
            assert d.column >= 1, f"column {d.column!r}: {d}"
            assert isinstance(d.message, str), f"message {d.message!r}"
            assert d.message.strip(), f"empty message: {d!r}"
            assert d.file == file
    outcome = "ok" if problem is None else "error"
    elapsed = time.perf_counter() - started
    assert elapsed < PER_INPUT_SECONDS, f"took {elapsed:.1f} s"
    return outcome


def test_trial_files_load_unmutated() -> None:
    assert TRIAL_FILES, "no trial files found"
    for path in TRIAL_FILES:
        assert check_one(path.read_text(encoding="utf-8"), path.name) == "ok", path


@pytest.fixture(scope="module")
def warm_units() -> None:
    """Build the UCUM registry once, outside the per-input clock: a mutated unit missing from the seed
    makes the checker build it lazily (2-6 s, once per process), which is start-up cost, not a hang."""
    units.warm_up()


def test_mutated_trial_files_fail_cleanly(warm_units: None) -> None:
    rng = random.Random(SEED)
    sources = [(p.name, p.read_text(encoding="utf-8")) for p in TRIAL_FILES]
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    slowest = 0.0
    for index in range(MUTANTS):
        name, source = sources[index % len(sources)]
        mutant, recipe = mutate(source, rng)
        started = time.perf_counter()
        try:
            outcomes[check_one(mutant, name)] += 1
        except (AssertionError, _HangError) as exc:
            failures.append(f"mutant {index} of {name} {recipe}: {exc}")
        except Exception as exc:  # any other exception type is the bug this test looks for
            failures.append(f"mutant {index} of {name} {recipe}: {type(exc).__name__}: {exc}"[:500])
        slowest = max(slowest, time.perf_counter() - started)
    print(f"\nparser fuzz: {MUTANTS} mutants (seed {SEED}): {dict(outcomes)}; slowest {slowest:.2f} s")
    assert not failures, f"{len(failures)} of {MUTANTS} mutants failed:\n" + "\n".join(failures[:20])
    assert outcomes["error"] > MUTANTS // 4, "mutations too weak: most mutants still load"


def test_odd_whole_inputs_fail_cleanly(warm_units: None) -> None:
    for text in ["", " ", "\n", "\x00", "\ufeff", "trial", 'trial "x"', "(" * 5000, "not " * 5000, "-" * 10_000]:
        check_one(text, "odd.trial")


@pytest.fixture
def broken_trials_dir(tmp_path: Path) -> Path:
    good = TRIAL_FILES[0]
    (tmp_path / good.name).write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    lines = TRIAL_FILES[1].read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if "Latest(" in line)
    lines[target] = lines[target].replace("Latest(", "Latest((", 1)
    (tmp_path / "broken.trial").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_cli_check_reports_file_line_col(broken_trials_dir: Path) -> None:
    script = Path(sys.executable).parent / "trial-screen"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    result = subprocess.run(
        [*command, "check", str(broken_trials_dir)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    located = re.findall(r"^(.+\.trial):(\d+):(\d+): (.+)$", result.stdout, flags=re.M)
    assert located, result.stdout
    for file, line, column, message in located:
        assert file.endswith("broken.trial"), file
        assert int(line) >= 1
        assert int(column) >= 1
        assert message.strip()
