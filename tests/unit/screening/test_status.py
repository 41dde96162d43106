"""A group's status, rolled up in one pass, is the contract's rule stated on the report lines' own properties."""

from __future__ import annotations

import itertools

from service.screening.contract import CriterionKind, CriterionReport, CriterionResult, Status
from service.screening.status import STATUS_BY_RANK, Rollup, trial_rank


def _line(kind: CriterionKind, result: CriterionResult) -> CriterionReport:
    return CriterionReport("c", None, kind, "text", result, (), ())


def _statuses(rollup: Rollup, results: list[str]) -> list[Status]:
    return [STATUS_BY_RANK[rank] for rank in rollup.group_ranks(results)]


def _by_definition(lines: list[CriterionReport]) -> Status:
    if any(line.is_disqualifying for line in lines):
        return Status.INELIGIBLE
    if all(line.is_favourable or line.result is CriterionResult.MANUAL for line in lines):
        return Status.ELIGIBLE
    return Status.POSSIBLY_ELIGIBLE


def test_every_group_of_up_to_three_lines_rolls_up_as_the_contract_says() -> None:
    kinds = list(itertools.product(CriterionKind, CriterionResult))
    for size in range(4):
        for combination in itertools.product(kinds, repeat=size):
            lines = [_line(kind, result) for kind, result in combination]
            rollup = Rollup.of(((kind, 0) for kind, _ in combination), 0)
            assert _statuses(rollup, [line.result for line in lines]) == [_by_definition(lines)], combination


def test_groups_roll_up_apart_with_their_lines_interleaved() -> None:
    """Lines of two groups in every interleaving of up to three: each group as if alone, the plain words too."""
    kinds = list(itertools.product(CriterionKind, CriterionResult))
    for size in range(4):
        for combination in itertools.product(kinds, repeat=size):
            for groups in itertools.product((0, 1), repeat=size):
                lines = [_line(kind, result) for kind, result in combination]
                rollup = Rollup.of(zip((kind for kind, _ in combination), groups, strict=True), 1)
                expected = [_by_definition([ln for ln, g in zip(lines, groups, strict=True) if g == i]) for i in (0, 1)]
                assert _statuses(rollup, [str(line.result) for line in lines]) == expected, (combination, groups)


def _trial_by_definition(common: Status, cohorts: list[Status]) -> Status:
    """contract.md: ineligible if the common part is, or every cohort is; eligible if the common part and one
    cohort are; otherwise possibly eligible."""
    if common is Status.INELIGIBLE or (cohorts and all(c is Status.INELIGIBLE for c in cohorts)):
        return Status.INELIGIBLE
    if common is Status.ELIGIBLE and (not cohorts or Status.ELIGIBLE in cohorts):
        return Status.ELIGIBLE
    return Status.POSSIBLY_ELIGIBLE


def test_a_trial_and_each_cohort_roll_up_as_the_contract_says() -> None:
    for common in Status:
        for size in range(4):
            for cohorts in itertools.product(Status, repeat=size):
                ranks = [STATUS_BY_RANK.index(c) for c in cohorts]
                rank = trial_rank(STATUS_BY_RANK.index(common), ranks)
                assert STATUS_BY_RANK[rank] is _trial_by_definition(common, list(cohorts)), (common, cohorts)
                for cohort in cohorts:  # a cohort alone: only as eligible as the common part allows
                    alone = trial_rank(STATUS_BY_RANK.index(common), [STATUS_BY_RANK.index(cohort)])
                    assert STATUS_BY_RANK[alone] is _trial_by_definition(common, [cohort])
