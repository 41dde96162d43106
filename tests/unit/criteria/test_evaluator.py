"""The evaluator: intervals decide only when every value agrees; derived quantities come from the patient data;
a failing criterion is reported with its trial, criterion and source position."""

from __future__ import annotations

import datetime as dt

import pytest

from service.criteria import (
    Answers,
    CompiledTrial,
    Estimate,
    EvaluationError,
    Evidence,
    MeasurementQuery,
    QueryTable,
    load_trial,
)
from tests.unit.criteria.fakes import HEADER, ON, IndexedPatient, Patient, Vocabulary


def _trial(body: str, queries: QueryTable | None = None) -> CompiledTrial:
    return load_trial(f'{HEADER}inclusion "c" "case":\n  {body}\n', "unit.trial", Vocabulary(), queries)


def _result(body: str, patient: Patient) -> str:
    return _trial(body).evaluate(patient, ON)[0].result


def test_latest_reads_the_value_in_the_annotated_unit() -> None:
    patient = Patient(values={"creatinine": 100.0})
    assert _result("Latest([Observation: \"creatinine\"]) <= 120 'umol/L'", patient) == "met"
    (query,) = patient.asked
    assert isinstance(query, MeasurementQuery)
    assert query.unit == "umol/L"


@pytest.mark.parametrize(
    ("estimate", "result"),
    [
        (Estimate(50.0, 50.0, (Evidence("Observation/scr", "creatinine"),)), "met"),
        (Estimate(20.0, 25.0), "not-met"),
        (Estimate(25.0, 45.0, (), ("Administrative sex",)), "unknown"),  # the threshold lies inside the range
        (Estimate(None, None, (), ("Serum creatinine",)), "unknown"),  # missing data: unknown, never not-met
    ],
)
def test_a_derived_quantity_is_asked_of_the_patient_data(estimate: Estimate, result: str) -> None:
    patient = Patient(derived_values={"creatinine-clearance": estimate})
    outcome = _trial("CreatinineClearance() >= 30 'mL/min'").evaluate(patient, ON)[0]
    assert outcome.result == result
    assert patient.asked == ["creatinine-clearance"]
    if result == "unknown":
        assert outcome.missing == estimate.missing
    else:
        assert outcome.evidence == estimate.evidence


def test_unknown_and_not_met_is_not_met_but_unknown_or_not_met_stays_unknown() -> None:
    patient = Patient()  # no ANC: the comparison is unknown
    low_anc = "Latest([Observation: \"anc\"]) < 1 '10*9/L'"
    assert _result(f'{low_anc} and exists [Condition: "lupus"]', patient) == "not-met"
    assert _result(f'{low_anc} or exists [Condition: "lupus"]', patient) == "unknown"
    assert _result(f'{low_anc} or exists [Condition: "lupus"]', Patient(conditions=("lupus",))) == "met"


def test_trials_loaded_with_one_query_table_share_their_queries() -> None:
    queries = QueryTable()
    body = 'exists [Condition: "lupus"]'
    first, second = Patient(), Patient()
    _trial(body, queries).evaluate(first, ON)
    _trial(body, queries).evaluate(second, ON)
    assert first.asked[0] is second.asked[0]
    third = Patient()
    _trial(body).evaluate(third, ON)  # its own table: an equal query, another object
    assert third.asked[0] == first.asked[0]
    assert third.asked[0] is not first.asked[0]


class _Failing(Patient):
    def latest(self, query: MeasurementQuery, on: object) -> object:  # type: ignore[override]
        raise ZeroDivisionError("float division by zero")


def test_a_failing_expression_is_located_by_trial_criterion_and_position() -> None:
    trial = _trial('exists [Condition: "lupus"] or Latest([Observation: "anc"]) < 1 \'10*9/L\'')
    with pytest.raises(EvaluationError) as caught:
        trial.evaluate(_Failing(), ON)
    error = caught.value
    assert (error.file, error.trial, error.criterion) == ("unit.trial", "unit", "c")
    assert (error.span.line, error.span.column) == (3, 34)  # the Latest call, not the start of the criterion
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert str(error) == "unit.trial:3:34: trial unit, criterion c: ZeroDivisionError: float division by zero"


def test_criteria_reading_no_concept_the_patient_holds_are_answered_by_a_blank_patient_once() -> None:
    trial = _trial('exists [Condition: "lupus"] or Latest([Observation: "anc"]) < 1 \'10*9/L\'')
    first, second = IndexedPatient(values={"creatinine": 1.0}), IndexedPatient(values={"creatinine": 2.0})
    outcomes = [trial.start_indexed(patient, ON).all() for patient in (first, second)]
    assert outcomes[0] is not outcomes[1]
    assert outcomes[0][0] is outcomes[1][0]  # the blank's outcome itself, shared
    assert outcomes[0] == trial.evaluate(Patient(), ON)
    assert first.asked == second.asked == []  # neither patient was asked anything
    (blank,) = first.blanks  # one blank for both: same gaps, same day
    assert not second.blanks
    assert len(blank.asked) == 2


def test_a_part_reading_no_concept_the_patient_holds_is_not_asked_of_the_patient() -> None:
    patient = IndexedPatient(conditions=("lupus",))
    trial = _trial('exists [Condition: "lupus"] and Latest([Observation: "anc"]) < 1 \'10*9/L\'')
    assert trial.start_indexed(patient, ON).all() == trial.evaluate(Patient(conditions=("lupus",)), ON)
    assert [q.concepts for q in patient.asked if not isinstance(q, str)] == [frozenset({"lupus"})]


def test_demographics_are_always_asked_of_the_patient_and_gaps_get_their_own_blank() -> None:
    trial = _trial("IsFemale()")
    patient, other = IndexedPatient(), IndexedPatient(missing_kinds=frozenset({"Condition"}))
    assert trial.start_indexed(patient, ON).all()[0].result == "met"
    assert patient.asked == ["sex"]
    male = IndexedPatient(sex_value="male")
    assert trial.start_indexed(male, ON).all()[0].result == "not-met"
    trial.start_indexed(other, ON).all()
    assert len(other.blanks) == 1  # other gaps: another blank


def test_trials_sharing_answers_ask_a_latest_of_the_patient_once() -> None:
    queries = QueryTable()  # as a registry loads its trials: equal queries (and drug groups) are one object
    body = 'Latest([Observation: "anc"]) < 1 \'10*9/L\' and exists [Condition: "lupus"]'
    first, second = _trial(body, queries), _trial(body, queries)
    patient = IndexedPatient(values={"anc": 0.5}, conditions=("lupus",))
    answers: Answers = {}
    shared = [trial.start_indexed(patient, ON, answers).all() for trial in (first, second)]
    assert len(answers) == 1
    assert sum(isinstance(q, MeasurementQuery) for q in patient.asked) == 1  # asked by the first trial only
    alone = IndexedPatient(values={"anc": 0.5}, conditions=("lupus",))
    assert shared[0] == shared[1] == first.start_indexed(alone, ON).all() == first.evaluate(alone, ON)


@pytest.mark.parametrize(
    ("born", "result"),
    [((dt.date(1980, 5, 1), dt.date(1980, 5, 1)), "met"), ((dt.date(2008, 1, 1), dt.date(2008, 12, 31)), "unknown")],
)
def test_trials_sharing_answers_ask_the_age_of_the_patient_once(born: tuple[dt.date, dt.date], result: str) -> None:
    body = "AgeInYears() >= 18 and AgeInYears() <= 80"
    first, second = _trial(body), _trial(body)
    patient = IndexedPatient(born=born)
    answers: Answers = {}
    shared = [trial.start_indexed(patient, ON, answers).all() for trial in (first, second)]
    assert patient.asked == ["birth"]
    alone = IndexedPatient(born=born)
    assert shared[0] == shared[1] == first.evaluate(alone, ON)
    assert shared[0][0].result == result


def test_patients_holding_the_same_concepts_with_other_gaps_evaluate_as_alone() -> None:
    """Which criteria a patient evaluates itself is kept per set of the trial's concepts it holds, with the blank
    outcomes of its gaps: patients taking turns with other gaps and other concepts each get their own answers."""
    trial = _trial('exists [Condition: "lupus"] or Latest([Observation: "anc"]) < 1 \'10*9/L\'')
    kinds = (frozenset(), frozenset({"Condition"}))
    for conditions, values, missing in [
        ((), {}, 0),
        (("lupus",), {}, 1),
        (("lupus",), {}, 0),
        ((), {"anc": 0.5}, 1),
    ] * 2:
        patient = IndexedPatient(values=values, conditions=conditions, missing_kinds=kinds[missing])
        reference = IndexedPatient(values=values, conditions=conditions, missing_kinds=kinds[missing])
        assert trial.start_indexed(patient, ON).all() == trial.evaluate(reference, ON)
