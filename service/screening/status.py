"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from service.screening.contract import CriterionReport, CriterionResult, Status


def group_status(criteria: Sequence[CriterionReport]) -> Status:
    """Ineligible on one disqualifying result; eligible when every computable criterion is favourable."""
    if any(c.is_disqualifying for c in criteria):
        return Status.INELIGIBLE
    if all(c.is_favourable or c.result is CriterionResult.MANUAL for c in criteria):
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


def cohort_status(common: Status, cohort: Status) -> Status:
    """A cohort is only as eligible as the common criteria allow."""
    return trial_status(common, [cohort])
