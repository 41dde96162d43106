"""Loads every trial file once at start: parsed, checked and compiled; a content hash is its version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from service.criteria import CompiledTrial, CriteriaError, Diagnostic, QueryTable, Vocabulary, load_trial
from service.screening.contract import CohortReport
from service.screening.status import STATUS_BY_RANK, Rollup


@dataclass(frozen=True, slots=True)
class LoadedTrial:
    compiled: CompiledTrial
    version: str  # sha256 of the file text, first 16 hex digits
    path: Path
    rollup: Rollup  # how its criteria's results roll up into cohort and trial status, worked out once
    cohort_lines: tuple[tuple[CohortReport, ...], ...]  # per cohort, its report line per status rank: catalog facts

    @property
    def id(self) -> str:
        return self.compiled.trial.id


def bundled_trials_dir() -> Path:
    return Path(str(resources.files("trials")))


def trial_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.trial")) if path.is_dir() else [path]


def load_trials(paths: Iterable[Path], vocabulary: Vocabulary) -> tuple[LoadedTrial, ...]:
    """All trials, or a CriteriaError listing every problem of every file."""
    loaded: list[LoadedTrial] = []
    problems: list[Diagnostic] = []
    queries = QueryTable()  # shared: a patient's memo answers the same question of two trials by identity
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            compiled = load_trial(text, str(path), vocabulary, queries, kept=True)
        except CriteriaError as exc:
            problems.extend(exc.diagnostics)
            continue
        if compiled.trial.id != path.stem:
            span = compiled.trial.span
            message = f'trial id "{compiled.trial.id}" must equal the file name "{path.stem}"'
            problems.append(Diagnostic(str(path), span.line, span.column, message))
            continue
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        cohort_lines = tuple(
            tuple(CohortReport(c.id, c.title, status) for status in STATUS_BY_RANK) for c in compiled.trial.cohorts
        )
        loaded.append(LoadedTrial(compiled, version, path, Rollup.of_trial(compiled.trial), cohort_lines))
    if problems:
        raise CriteriaError(problems)
    return tuple(loaded)
