"""The screening report contract (shared/design/contract.md): its words as enums, one frozen type per level.

Every layer above the evaluator speaks these types: cards, the audit trail, the pages, the CLI and bulk runs.
The JSON form is produced and read in one place, `to_json` / `from_json`. Reading validates with pydantic;
writing builds the dicts directly (`_trial_json`), field for field what pydantic's serializer gives for these
types (tests/unit/screening/test_report_forms.py holds it to that) at half its cost: no Enum `.value` lookups
in Python per field. The types are plain slotted dataclasses, so building a report validates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from service.criteria import CriterionKind, CriterionOutcome, Evidence


class CriterionResult(StrEnum):
    """About the criterion's own wording: an exclusion that applies is MET."""

    MET = "met"
    NOT_MET = "not-met"
    UNKNOWN = "unknown"
    MANUAL = "manual"


class Status(StrEnum):
    """Of a cohort or a trial."""

    ELIGIBLE = "eligible"
    POSSIBLY_ELIGIBLE = "possibly-eligible"
    INELIGIBLE = "ineligible"


_RESULTS = {result.value: result for result in CriterionResult}  # a dict lookup: the enum call is ~10x dearer
# Members tested per criterion, as module names: reading one off its Enum class runs Python code.
_INCLUSION, _MET, _NOT_MET = CriterionKind.INCLUSION, CriterionResult.MET, CriterionResult.NOT_MET


def is_disqualifying(kind: CriterionKind, result: str) -> bool:
    """An inclusion that fails or an exclusion that applies (also on the evaluator's plain result words). An
    identity test, not a dict of kinds: hashing an Enum member runs Python code, and reports ask this often."""
    return result == (_NOT_MET if kind is _INCLUSION else _MET)


@dataclass(frozen=True, slots=True)
class CriterionReport:
    id: str
    cohort: str | None
    kind: CriterionKind
    text: str
    result: CriterionResult
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...]

    @classmethod
    def of(cls, outcome: CriterionOutcome) -> CriterionReport:
        """A report builds one per criterion the patient evaluates itself (~80 per patient): its fields are set by
        the slots' own setters, which the frozen dataclass's __init__ reaches through object.__setattr__ by name at
        nearly twice the cost. The line is as frozen as any other (tests/unit/screening/test_report_forms.py)."""
        criterion = outcome.criterion
        line = _new(cls)
        _set_id(line, criterion.id)
        _set_cohort(line, criterion.cohort)
        _set_kind(line, criterion.kind)
        _set_text(line, criterion.text)
        _set_result(line, _RESULTS[outcome.result])
        _set_evidence(line, outcome.evidence)
        _set_missing(line, outcome.missing)
        return line

    @property
    def is_favourable(self) -> bool:
        """Decided for the patient: an inclusion met or an exclusion that does not apply."""
        return self.result is (CriterionResult.MET if self.kind is CriterionKind.INCLUSION else CriterionResult.NOT_MET)

    @property
    def is_disqualifying(self) -> bool:
        return is_disqualifying(self.kind, self.result)


_new = object.__new__
_set_id, _set_cohort, _set_kind, _set_text, _set_result, _set_evidence, _set_missing = (
    getattr(CriterionReport, name).__set__ for name in CriterionReport.__dataclass_fields__
)


@dataclass(frozen=True, slots=True)
class CohortReport:
    id: str
    title: str
    status: Status


@dataclass(frozen=True, slots=True)
class TrialReport:
    id: str
    title: str
    registry_id: Annotated[str | None, Field(alias="registryId")]
    status: Status
    cohorts: tuple[CohortReport, ...]
    criteria: tuple[CriterionReport, ...]

    def to_json(self) -> dict[str, Any]:
        return _trial_json(self)

    @classmethod
    def from_json(cls, data: object) -> TrialReport:
        """Raises pydantic.ValidationError when `data` is not a trial report of the contract."""
        return _TRIAL.validate_python(data, by_alias=True)

    def cohort_title(self, cohort_id: str | None) -> str | None:
        return next((c.title for c in self.cohorts if c.id == cohort_id), None)

    def evidence_references(self) -> list[str]:
        """Every record the report rests on, each once, sorted."""
        return sorted({e.reference for c in self.criteria for e in c.evidence})


@dataclass(frozen=True, slots=True)
class ScreeningReport:
    patient: str
    evaluated_at: Annotated[str, Field(alias="evaluatedAt")]
    trials: tuple[TrialReport, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "evaluatedAt": self.evaluated_at,
            "trials": [_trial_json(trial) for trial in self.trials],
        }

    @classmethod
    def from_json(cls, data: object) -> ScreeningReport:
        return _REPORT.validate_python(data, by_alias=True)


# The JSON of report lines that many reports hold (`shared`), by the line's identity, built once; the lines are kept
# (`_SHARED_LINES`) so that no id among the keys is reused. Both cleared when full.
_SHARED_JSON: dict[int, dict[str, Any]] = {}
_SHARED_LINES: list[CriterionReport] = []


def shared(line: CriterionReport) -> CriterionReport:
    """`line`, which many reports will hold (a blank patient's outcome, screen.py): its JSON is built once and the
    same dict is in every report's JSON, so that JSON is read-only (as every reader of it treats it)."""
    if len(_SHARED_JSON) >= 16384:
        _SHARED_JSON.clear()
        _SHARED_LINES.clear()
    _SHARED_LINES.append(line)
    _SHARED_JSON[id(line)] = _criterion_json(line)
    return line


def _criterion_json(c: CriterionReport) -> dict[str, Any]:
    return {
        "id": c.id,
        "cohort": c.cohort,
        "kind": "inclusion" if c.kind is _INCLUSION else "exclusion",
        "text": c.text,
        "result": str(c.result),  # a StrEnum's str() is its value, in C
        "evidence": [{"reference": e.reference, "display": e.display} for e in c.evidence],
        "missing": list(c.missing),
    }


def _trial_json(trial: TrialReport) -> dict[str, Any]:
    """A trial report as pydantic's `dump_python(mode="json", by_alias=True)` gives it (same keys, same order).
    Most lines have a shared JSON: every line's is looked up in C calls, and only the few others are visited, found
    by `list.index` (also in C)."""
    lines = trial.criteria
    criteria = list(map(_SHARED_JSON.get, map(id, lines)))
    at = -1
    for _ in range(criteria.count(None)):
        at = criteria.index(None, at + 1)
        criteria[at] = _criterion_json(lines[at])
    return {
        "id": trial.id,
        "title": trial.title,
        "registryId": trial.registry_id,
        "status": str(trial.status),
        "cohorts": [{"id": c.id, "title": c.title, "status": str(c.status)} for c in trial.cohorts],
        "criteria": criteria,
    }


_TRIAL = TypeAdapter(TrialReport)
_REPORT = TypeAdapter(ScreeningReport)

__all__ = [
    "CohortReport",
    "CriterionKind",
    "CriterionReport",
    "CriterionResult",
    "Evidence",
    "ScreeningReport",
    "Status",
    "TrialReport",
    "is_disqualifying",
]
