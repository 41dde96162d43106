"""The contract's roll-up from criterion results to cohort and trial status (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import NamedTuple

from service.criteria import Trial
from service.screening.contract import CriterionKind, Status

# A status as the roll-up ranks it: the worse, the higher (statuses combine by max and min of their ranks).
STATUS_BY_RANK = (Status.ELIGIBLE, Status.POSSIBLY_ELIGIBLE, Status.INELIGIBLE)
# Read per criterion, as a module name: reading a member off its Enum class runs Python code.
_INCLUSION = CriterionKind.INCLUSION


_Pick = Callable[[Sequence[str]], Sequence[str]]


def _pick(indices: list[int]) -> _Pick:
    """The items at `indices` as one sequence, in C (`itemgetter` gives a bare item for one index: it is asked twice,
    and an empty slice for none)."""
    if not indices:
        return itemgetter(slice(0, 0))
    return itemgetter(*indices) if len(indices) > 1 else itemgetter(indices[0], indices[0])


class Rollup(NamedTuple):
    """One trial's criteria as the roll-up sees them, worked out once per trial: per criterion (file order) its
    group (0: the common criteria, i: the i-th cohort's) and the plain result words that disqualify and favour
    it (an inclusion that fails or an exclusion that applies disqualifies, as `CriterionReport.is_disqualifying`);
    per group, what reads its inclusions' and its exclusions' results (`group_ranks`)."""

    groups: tuple[int, ...]
    against: tuple[str, ...]
    towards: tuple[str, ...]
    cohorts: int
    members: tuple[tuple[_Pick, _Pick], ...]

    @classmethod
    def of(cls, criteria: Iterable[tuple[CriterionKind, int]], cohorts: int) -> Rollup:
        """From each criterion's kind and group."""
        kinds_and_groups = list(criteria)
        inclusion = [kind is _INCLUSION for kind, _ in kinds_and_groups]
        groups = tuple(group for _, group in kinds_and_groups)
        # per group, its inclusions' and its exclusions' indices
        members = tuple(
            (
                _pick([i for i in range(len(groups)) if groups[i] == group and inclusion[i]]),
                _pick([i for i in range(len(groups)) if groups[i] == group and not inclusion[i]]),
            )
            for group in range(cohorts + 1)
        )
        return cls(
            groups,
            tuple("not-met" if i else "met" for i in inclusion),
            tuple("met" if i else "not-met" for i in inclusion),
            cohorts,
            members,
        )

    @classmethod
    def of_trial(cls, trial: Trial) -> Rollup:
        group = {None: 0} | {cohort.id: i for i, cohort in enumerate(trial.cohorts, 1)}
        return cls.of(((c.kind, group[c.cohort]) for c in trial.criteria), len(trial.cohorts))

    def group_ranks(self, results: Sequence[str]) -> list[int]:
        """Each group's status as a rank (`STATUS_BY_RANK`; the common group first) from its criteria's results, in
        the criteria's order: ineligible on one disqualifying result; eligible when every computable criterion is
        favourable. Every report and population answer asks this, so each group's results are picked and searched
        in C: a result is one of four words, and neither disqualifying, favourable nor manual is unknown."""
        if len(results) != len(self.groups):
            raise ValueError(f"{len(results)} results for {len(self.groups)} criteria")
        ranks = []
        for inclusions, exclusions in self.members:
            included, excluded = inclusions(results), exclusions(results)
            if "not-met" in included or "met" in excluded:
                ranks.append(2)
            elif "unknown" in included or "unknown" in excluded:
                ranks.append(1)
            else:
                ranks.append(0)
        return ranks


def trial_rank(common: int, cohorts: Sequence[int]) -> int:
    """Ineligible if the common part is, or every cohort is; eligible if common and one cohort are: the worse of
    the common part and its best cohort. A cohort alone is only as eligible as the common criteria allow:
    `trial_rank(common, [cohort])`, the worse of the two."""
    return max(common, min(cohorts)) if cohorts else common
