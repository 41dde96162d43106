"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from service.criteria import Trial
from service.screening.contract import CriterionKind, Status

# A status as the roll-up ranks it: the worse, the higher (statuses combine by max and min of their ranks).
STATUS_BY_RANK = (Status.ELIGIBLE, Status.POSSIBLY_ELIGIBLE, Status.INELIGIBLE)
# Read per criterion, as a module name: reading a member off its Enum class runs Python code.
_INCLUSION = CriterionKind.INCLUSION


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

    def group_ranks(self, results: Iterable[str]) -> list[int]:
        """Each group's status as a rank (`STATUS_BY_RANK`; the common group first) from its criteria's results, in
        the criteria's order: ineligible on one disqualifying result; eligible when every computable criterion is
        favourable. One pass over plain words (the evaluator's, or a `CriterionResult`'s), with no call per
        criterion: every report asks this."""
        ranks = [0] * (self.cohorts + 1)
        for result, group, against, towards in zip(results, self.groups, self.against, self.towards, strict=True):
            if result == against:
                ranks[group] = 2
            elif result != towards and result != "manual" and not ranks[group]:
                ranks[group] = 1
        return ranks


def trial_rank(common: int, cohorts: Sequence[int]) -> int:
    """Ineligible if the common part is, or every cohort is; eligible if common and one cohort are: the worse of
    the common part and its best cohort. A cohort alone is only as eligible as the common criteria allow:
    `trial_rank(common, [cohort])`, the worse of the two."""
    return max(common, min(cohorts)) if cohorts else common
