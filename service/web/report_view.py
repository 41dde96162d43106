"""A stored trial report as the report page shows it: grouped by arm, inclusions apart from exclusions, each
result worded for a person ("Applies: excludes") and marked favourable or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service.audit.store import AuditedCard
from service.screening.contract import CriterionKind, CriterionReport, CriterionResult


@dataclass(frozen=True, slots=True)
class CriterionView:
    id: str
    kind: str
    text: str
    result: str
    verdict: str  # favourable | unfavourable | unknown | manual
    label: str
    evidence: list[tuple[str, str]]  # (display, reference)
    missing: list[str]


@dataclass(frozen=True, slots=True)
class GroupView:
    key: str
    title: str
    status: str | None
    inclusion: list[CriterionView]
    exclusion: list[CriterionView]


@dataclass(frozen=True, slots=True)
class ReportView:
    trial_id: str
    title: str
    registry_id: str | None
    status: str
    groups: list[GroupView]
    complete: bool  # False: the stored report was unreadable; only the card's own facts are shown


_UNDECIDED: Final = {CriterionResult.UNKNOWN: "Unknown: data missing", CriterionResult.MANUAL: "Manual review"}
_DECIDED: Final = {
    CriterionKind.INCLUSION: ("Met", "Not met"),
    CriterionKind.EXCLUSION: ("Does not apply", "Applies: excludes"),
}


def _criterion_view(c: CriterionReport) -> CriterionView:
    if c.result in _UNDECIDED:
        verdict, label = c.result.value, _UNDECIDED[c.result]
    elif c.is_favourable:
        verdict, label = "favourable", _DECIDED[c.kind][0]
    else:
        verdict, label = "unfavourable", _DECIDED[c.kind][1]
    return CriterionView(
        id=c.id,
        kind=c.kind.value,
        text=c.text,
        result=c.result.value,
        verdict=verdict,
        label=label,
        evidence=[(e.display, e.reference) for e in c.evidence],
        missing=list(c.missing),
    )


def report_view(card: AuditedCard) -> ReportView:
    trial = card.trial_report()
    if trial is None:
        return ReportView(card.trial_id, card.trial_id, None, card.trial_status, [], complete=False)
    arms: dict[str | None, tuple[str, str | None]] = {None: ("Common to all arms", None)}
    for cohort in trial.cohorts:
        arms[cohort.id] = (f"Arm: {cohort.title}", cohort.status.value)
    for c in trial.criteria:
        arms.setdefault(c.cohort, (f"Arm: {c.cohort}", None))
    groups = []
    for key, (title, status) in arms.items():
        members = [c for c in trial.criteria if c.cohort == key]
        if not members:
            continue
        groups.append(
            GroupView(
                key=key or "common",
                title=title,
                status=status,
                inclusion=[_criterion_view(c) for c in members if c.kind is CriterionKind.INCLUSION],
                exclusion=[_criterion_view(c) for c in members if c.kind is CriterionKind.EXCLUSION],
            )
        )
    return ReportView(trial.id, trial.title, trial.registry_id, trial.status.value, groups, complete=True)
