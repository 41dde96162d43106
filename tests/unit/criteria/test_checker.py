"""The checker: every problem at once, and the trial annotated with the unit each Latest is read in."""

from __future__ import annotations

import pytest

from service.criteria import TrialCheckError, ast, check_trial, parse_trial
from tests.unit.criteria.fakes import HEADER, Vocabulary


def _checked(body: str, defines: str = "") -> tuple[ast.Trial, ast.Trial]:
    text = f'{HEADER}inclusion "c" "case":\n  {body}\n{defines}'
    parsed = parse_trial(text, "unit.trial")
    return parsed, check_trial(parsed, Vocabulary(), text)


def _latest_calls(expr: ast.Expr) -> list[ast.Call]:
    if isinstance(expr, ast.Call):
        return [expr]
    if isinstance(expr, ast.Compare):
        return _latest_calls(expr.left) + _latest_calls(expr.right)
    if isinstance(expr, ast.And | ast.Or):
        return _latest_calls(expr.left) + _latest_calls(expr.right)
    if isinstance(expr, ast.Between):
        return _latest_calls(expr.value)
    if isinstance(expr, ast.Not):
        return _latest_calls(expr.operand)
    return []


@pytest.mark.parametrize(
    ("body", "unit"),
    [
        ("Latest([Observation: \"creatinine\"]) <= 120 'umol/L'", "umol/L"),  # the literal's unit, not the concept's
        ("2 'mg/dL' > Latest([Observation: \"creatinine\"])", "mg/dL"),  # either side
        ('Latest([Observation: "score"]) >= 4', "{score}"),  # a bare number: the dimensionless concept unit
        ("Highest([Observation: \"anc\"]) between 1 '10*9/L' and 2 '10*9/L'", "10*9/L"),
    ],
)
def test_each_latest_carries_the_unit_it_is_compared_in(body: str, unit: str) -> None:
    parsed, checked = _checked(body)
    expr = checked.criteria[0].expr
    assert expr is not None
    assert [call.unit for call in _latest_calls(expr)] == [unit]
    assert parsed.criteria[0].expr is not None
    assert [call.unit for call in _latest_calls(parsed.criteria[0].expr)] == [None]  # the parse is not changed


def test_definitions_are_annotated_and_unchanged_nodes_are_kept() -> None:
    defines = "define LowAnc:\n  Latest([Observation: \"anc\"]) < 1 '10*9/L'\n"
    parsed, checked = _checked('LowAnc or exists [Condition: "lupus"]', defines)
    (define,) = checked.defines
    assert _latest_calls(define.expr)[0].unit == "10*9/L"
    original, annotated = parsed.criteria[0].expr, checked.criteria[0].expr
    assert isinstance(original, ast.Or)
    assert isinstance(annotated, ast.Or)
    assert annotated is original  # nothing to annotate below: the same node, not a copy


def test_a_derived_quantity_is_typed_by_its_unit() -> None:
    _checked("CreatinineClearance() >= 30 'mL/min'")
    with pytest.raises(TrialCheckError, match="cannot compare a quantity in 'mL/min' with a quantity in 'mg/dL'"):
        _checked("CreatinineClearance() >= 30 'mg/dL'")


def test_every_problem_is_reported_in_source_order() -> None:
    with pytest.raises(TrialCheckError) as caught:
        _checked('exists [Condition: "nope"] or Latest([Observation: "anc"]) > 1 \'mg/dL\' or Undefined')
    messages = [d.message for d in caught.value.diagnostics]
    assert len(messages) == 3, messages
    assert 'unknown Condition concept "nope"' in messages[0]
    assert "cannot be compared with 'mg/dL'" in messages[1]
    assert "undefined name Undefined" in messages[2]
    assert [d.column for d in caught.value.diagnostics] == sorted(d.column for d in caught.value.diagnostics)
