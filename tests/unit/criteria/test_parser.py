"""Text → AST: the shape of what the parser builds and where it says a text does not parse."""

from __future__ import annotations

import pytest

from service.criteria import CriterionKind, TrialSyntaxError, ast, parse_trial
from tests.unit.criteria.fakes import HEADER


def _expr(body: str) -> ast.Expr:
    trial = parse_trial(f'{HEADER}inclusion "c" "case":\n  {body}\n', "unit.trial")
    expr = trial.criteria[0].expr
    assert expr is not None
    return expr


def test_a_trial_keeps_its_header_criteria_and_positions() -> None:
    text = f'{HEADER}title "T"\nexclusion "x" "No lupus":\n  exists [Condition: "lupus"] active\n'
    trial = parse_trial(text, "unit.trial")
    assert (trial.id, trial.title, trial.file) == ("unit", "T", "unit.trial")
    (criterion,) = trial.criteria
    assert (criterion.id, criterion.kind, criterion.text) == ("x", CriterionKind.EXCLUSION, "No lupus")
    assert isinstance(criterion.expr, ast.Exists)
    assert criterion.expr.source.active
    assert criterion.expr.source.concepts == ("lupus",)
    assert (criterion.expr.span.line, criterion.expr.span.column) == (4, 3)


def test_and_binds_tighter_than_or() -> None:
    expr = _expr("IsFemale() or IsMale() and IsFemale()")
    assert isinstance(expr, ast.Or)
    assert isinstance(expr.right, ast.And)


def test_a_comparison_reads_a_quantity_with_its_unit() -> None:
    expr = _expr("Latest([Observation: \"anc\"] within 30 days) >= 1.5 '10*9/L'")
    assert isinstance(expr, ast.Compare)
    assert expr.op == ">="
    assert isinstance(expr.left, ast.Call)
    assert expr.left.function == "Latest"
    assert expr.left.unit is None
    retrieve = expr.left.args[0]
    assert isinstance(retrieve, ast.Retrieve)
    assert retrieve.within is not None
    assert retrieve.within.days == 30
    assert expr.right == ast.Quantity(1.5, "10*9/L", expr.right.span)


def test_a_manual_criterion_has_no_expression() -> None:
    trial = parse_trial(f'{HEADER}inclusion "c" "Investigator judgement":\n  manual\n', "unit.trial")
    assert trial.criteria[0].expr is None


def test_a_syntax_error_says_file_line_and_column() -> None:
    with pytest.raises(TrialSyntaxError) as caught:
        parse_trial(f'{HEADER}inclusion "c" "case":\n  AgeInYears() >=\n', "unit.trial")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.file == "unit.trial"
    assert diagnostic.line >= 3
    assert str(caught.value).startswith(f"unit.trial:{diagnostic.line}:{diagnostic.column}:")
