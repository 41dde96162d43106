"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from service.criteria import Trial
from service.screening.contract import CriterionKind, Status

_BY_RANK = (Status.ELIGIBLE, Status.POSSIBLY_ELIGIBLE, Status.INELIGIBLE)
# Members tested per criterion and per status, as module names: reading one off its Enum class runs Python code.
_INCLUSION = CriterionKind.INCLUSION
_ELIGIBLE, _POSSIBLY_ELIGIBLE, _INELIGIBLE = _BY_RANK


class Rollup(NamedTuple):
    """One trial's criteria as the roll-up sees them, worked out once per trial: per criterion (file order) its
    group (0: the common criteria, i: the i-th cohort's) and the plain result words that disqualify and favour
    it (an inclusion that fails or an exclusion that applies disqualifies, as `CriterionReport.is_disqualifying`)."""

    groups: tuple[int, ...]
    against: tuple[str, ...]
    towards: tuple[str, ...]
    cohorts: int

    @classmethod
    def of(cls, criteria: Iterable[tuple[CriterionKind, int]], cohorts: int) -> Rollup:
        """From each criterion's kind and group."""
        kinds_and_groups = list(criteria)
        inclusion = [kind is _INCLUSION for kind, _ in kinds_and_groups]
        return cls(
            tuple(group for _, group in kinds_and_groups),
            tuple("not-met" if i else "met" for i in inclusion),
            tuple("met" if i else "not-met" for i in inclusion),
            cohorts,
        )

    @classmethod
    def of_trial(cls, trial: Trial) -> Rollup:
        group = {None: 0} | {cohort.id: i for i, cohort in enumerate(trial.cohorts, 1)}
        return cls.of(((c.kind, group[c.cohort]) for c in trial.criteria), len(trial.cohorts))

    def group_statuses(self, results: Iterable[str]) -> list[Status]:
        """Each group's status (the common group first) from its criteria's results, in the criteria's order:
        ineligible on one disqualifying result; eligible when every computable criterion is favourable. One pass
        over plain words (the evaluator's, or a `CriterionResult`'s), with no call per criterion: every report
        asks this."""
        ranks = [0] * (self.cohorts + 1)
        for result, group, against, towards in zip(results, self.groups, self.against, self.towards, strict=True):
            if result == against:
                ranks[group] = 2
            elif result != towards and result != "manual" and not ranks[group]:
                ranks[group] = 1
        return [_BY_RANK[rank] for rank in ranks]


def trial_status(common: Status, cohorts: Sequence[Status]) -> Status:
    """Ineligible if the common part is, or every cohort is; eligible if common and one cohort are."""
    if common is _INELIGIBLE or (cohorts and cohorts.count(_INELIGIBLE) == len(cohorts)):
        return _INELIGIBLE
    if common is _ELIGIBLE and (not cohorts or _ELIGIBLE in cohorts):
        return _ELIGIBLE
    return _POSSIBLY_ELIGIBLE


def cohort_status(common: Status, cohort: Status) -> Status:
    """A cohort is only as eligible as the common criteria allow."""
    return trial_status(common, [cohort])
