"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from service.screening.contract import CriterionKind, CriterionReport, CriterionResult, Status

# (disqualifying, favourable) result per kind of criterion: an inclusion that fails or an exclusion that applies
# disqualifies (CriterionReport.is_disqualifying / is_favourable, tested alike in one pass).
_INCLUSION = (CriterionResult.NOT_MET, CriterionResult.MET)
_EXCLUSION = (CriterionResult.MET, CriterionResult.NOT_MET)
# Members tested per criterion, as module names: reading one off its Enum class runs Python code.
_INCLUSION_KIND, _MANUAL = CriterionKind.INCLUSION, CriterionResult.MANUAL


def group_status(criteria: Sequence[CriterionReport]) -> Status:
    """Ineligible on one disqualifying result; eligible when every computable criterion is favourable. One pass
    with no call per criterion: every report asks this of each of its groups."""
    status = Status.ELIGIBLE
    for criterion in criteria:
        against, towards = _INCLUSION if criterion.kind is _INCLUSION_KIND else _EXCLUSION
        result = criterion.result
        if result == against:
            return Status.INELIGIBLE
        if result is not towards and result is not _MANUAL:
            status = Status.POSSIBLY_ELIGIBLE
    return status


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
