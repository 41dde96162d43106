"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from service.criteria import CriterionKind, CriterionOutcome


class Status(Enum):
    ELIGIBLE = "eligible"
    POSSIBLY_ELIGIBLE = "possibly-eligible"
    INELIGIBLE = "ineligible"


def is_disqualifying(outcome: CriterionOutcome) -> bool:
    """An inclusion that fails or an exclusion that applies."""
    wanted = "not-met" if outcome.criterion.kind is CriterionKind.INCLUSION else "met"
    return outcome.result == wanted


def is_favourable(outcome: CriterionOutcome) -> bool:
    wanted = "met" if outcome.criterion.kind is CriterionKind.INCLUSION else "not-met"
    return outcome.result in (wanted, "manual")


def group_status(outcomes: Sequence[CriterionOutcome]) -> Status:
    if any(is_disqualifying(o) for o in outcomes):
        return Status.INELIGIBLE
    if all(is_favourable(o) for o in outcomes):
        return Status.ELIGIBLE
    return Status.POSSIBLY_ELIGIBLE


def trial_status(common: Status, cohorts: Sequence[Status]) -> Status:
    """Ineligible if the common part is, or every cohort is; eligible if common and one cohort are."""
    if common is Status.INELIGIBLE or (cohorts and all(c is Status.INELIGIBLE for c in cohorts)):
        return Status.INELIGIBLE
    best_cohort_eligible = not cohorts or any(c is Status.ELIGIBLE for c in cohorts)
    if common is Status.ELIGIBLE and best_cohort_eligible:
        return Status.ELIGIBLE
    return Status.POSSIBLY_ELIGIBLE
