"""Trials compiled to Python source: readable functions, `x or unknown(...)` explained as any other side,
and a failing read located through the generated lines, also inside a definition."""

from __future__ import annotations

import re

import pytest

from service.criteria import CompiledTrial, EvaluationError, load_trial
from tests.unit.criteria.fakes import HEADER, ON, IndexedPatient, Patient, Vocabulary
from tests.unit.criteria.test_evaluator import _Failing

LOW_ANC = "Latest([Observation: \"anc\"]) < 1 '10*9/L'"


def _trial(text: str) -> CompiledTrial:
    return load_trial(f"{HEADER}{text}", "unit.trial", Vocabulary())


def _outcome(body: str, patient: Patient) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    outcome = _trial(f'inclusion "c" "case":\n  {body}\n').evaluate(patient, ON)[0]
    return outcome.result, tuple(e.reference for e in outcome.evidence), outcome.missing


def test_the_source_has_a_function_per_criterion_and_definition_and_a_line_per_read() -> None:
    source = _trial(
        f'define Lupus:\n  exists [Condition: "lupus"]\ninclusion "c" "case":\n  Lupus and {LOW_ANC}\n'
    ).source
    assert "def criterion_0(env):" in source
    assert "def define_0(env):" in source
    assert "env.defines['Lupus'] = define_0(env)" in source
    # the read of the part the blank patient may answer: in its function, and written out in the criterion's
    reads = [line for line in source.splitlines() if "_latest(env, " in line]
    assert len(reads) == 2
    for read in reads:  # a read, alone on its line, first looked up in the patient's answers by its query's id
        assert re.fullmatch(r" +l(\d+), h\1, e\1, m\1 = env\.answers\.get\(K(Q\d+)\) or _latest\(env, \2\)", read)


@pytest.mark.parametrize(
    ("body", "patient", "expected"),
    [
        (
            'exists [Condition: "lupus"] or unknown("why")',
            Patient(conditions=("lupus",)),
            ("met", ("Condition/lupus",), ()),
        ),
        ('exists [Condition: "lupus"] or unknown("why")', Patient(), ("unknown", (), ("why",))),
        ('unknown("why") and exists [Condition: "lupus"]', Patient(), ("not-met", (), ())),
        ('unknown("why") and exists [Condition: "lupus"]', Patient(conditions=("lupus",)), ("unknown", (), ("why",))),
        (f'{LOW_ANC} and unknown("why")', Patient(), ("unknown", (), ("anc value", "why"))),
        (f'unknown("why") or {LOW_ANC}', Patient(), ("unknown", (), ("why", "anc value"))),
        (f'unknown("why") or {LOW_ANC}', Patient(values={"anc": 0.5}), ("met", ("Observation/anc",), ())),
        ('unknown("a") and unknown("b")', Patient(), ("unknown", (), ("a", "b"))),
    ],
)
def test_a_side_known_to_be_unknown_explains_the_result_as_any_other_side(
    body: str, patient: Patient, expected: tuple[str, tuple[str, ...], tuple[str, ...]]
) -> None:
    assert _outcome(body, patient) == expected


def test_a_read_failing_inside_a_definition_is_located_there() -> None:
    trial = _trial(f'define LowAnc:\n  {LOW_ANC}\ninclusion "c" "case":\n  exists [Condition: "lupus"] and LowAnc\n')
    with pytest.raises(EvaluationError) as caught:
        trial.evaluate(_Failing(), ON)
    assert (caught.value.criterion, caught.value.span.line, caught.value.span.column) == ("c", 3, 3)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("held", [(), ("lupus",), ("anc",), ("lupus", "anc")])
def test_a_part_of_one_concept_is_tested_with_in_and_answers_as_the_plain_walk(held: tuple[str, ...]) -> None:
    trial = _trial(f'inclusion "c" "case":\n  exists [Condition: "lupus"] and {LOW_ANC}\n')
    tests = [line.strip() for line in trial.source.splitlines() if "env.held is None" in line]
    assert tests == ["if env.held is None or 'lupus' in env.held:", "if env.held is None or 'anc' in env.held:"]
    conditions, values = tuple(c for c in held if c == "lupus"), {c: 0.5 for c in held if c == "anc"}
    patient = IndexedPatient(values=values, conditions=conditions)
    assert trial.start_indexed(patient, ON).all() == trial.evaluate(Patient(values=values, conditions=conditions), ON)
