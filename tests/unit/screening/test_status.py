"""A group's status, rolled up in one pass, is the contract's rule stated on the report lines' own properties."""

from __future__ import annotations

import itertools

from service.screening.contract import CriterionKind, CriterionReport, CriterionResult, Status
from service.screening.status import group_status


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
            assert group_status(lines) is _by_definition(lines), combination
