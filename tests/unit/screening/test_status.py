"""A group's status, rolled up in one pass, is the contract's rule stated on the report lines' own properties."""

from __future__ import annotations

import itertools

from service.screening.contract import CriterionKind, CriterionReport, CriterionResult, Status
from service.screening.status import Rollup


def _line(kind: CriterionKind, result: CriterionResult) -> CriterionReport:
    return CriterionReport("c", None, kind, "text", result, (), ())


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
            assert rollup.group_statuses([line.result for line in lines]) == [_by_definition(lines)], combination


def test_groups_roll_up_apart_with_their_lines_interleaved() -> None:
    """Lines of two groups in every interleaving of up to three: each group as if alone, the plain words too."""
    kinds = list(itertools.product(CriterionKind, CriterionResult))
    for size in range(4):
        for combination in itertools.product(kinds, repeat=size):
            for groups in itertools.product((0, 1), repeat=size):
                lines = [_line(kind, result) for kind, result in combination]
                rollup = Rollup.of(zip((kind for kind, _ in combination), groups, strict=True), 1)
                expected = [_by_definition([ln for ln, g in zip(lines, groups, strict=True) if g == i]) for i in (0, 1)]
                assert rollup.group_statuses([str(line.result) for line in lines]) == expected, (combination, groups)
