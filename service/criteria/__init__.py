"""The criteria language: text → AST → checked → compiled rules → per-criterion outcomes.

Knows nothing of FHIR, HTTP or SQL: patients arrive through `inputs.PatientData`, concepts and units
through `vocabulary.Vocabulary`.
"""

from __future__ import annotations

from service.criteria.ast import Cohort, Criterion, CriterionKind, Trial
from service.criteria.checker import check_trial
from service.criteria.codegen import QueryTable
from service.criteria.errors import CriteriaError, Diagnostic, EvaluationError, TrialCheckError, TrialSyntaxError
from service.criteria.evaluator import Answers, CompiledTrial, CriterionOutcome, Evaluation, compile_trial
from service.criteria.inputs import (
    Course,
    Estimate,
    Event,
    EventQuery,
    EventStatus,
    Evidence,
    Measurement,
    MeasurementQuery,
    Missing,
    PatientData,
    Polarity,
    RecordKind,
    Window,
)
from service.criteria.parser import parse_trial
from service.criteria.truth import Truth
from service.criteria.vocabulary import Vocabulary


def load_trial(
    text: str, file: str, vocabulary: Vocabulary, queries: QueryTable | None = None, *, kept: bool = False
) -> CompiledTrial:
    """Parse, check and compile one trial; raises CriteriaError with every file:line:col problem. Pass one
    `queries` table to every trial of a registry so that they share their queries; `kept`: see `parse_trial` and
    `compile_trial`."""
    checked = check_trial(parse_trial(text, file, kept=kept), vocabulary, text)
    return compile_trial(checked, vocabulary, queries, kept=kept)


__all__ = [
    "Answers",
    "Cohort",
    "CompiledTrial",
    "Course",
    "CriteriaError",
    "Criterion",
    "CriterionKind",
    "CriterionOutcome",
    "Diagnostic",
    "Estimate",
    "Evaluation",
    "EvaluationError",
    "Event",
    "EventQuery",
    "EventStatus",
    "Evidence",
    "Measurement",
    "MeasurementQuery",
    "Missing",
    "PatientData",
    "Polarity",
    "QueryTable",
    "RecordKind",
    "Trial",
    "TrialCheckError",
    "TrialSyntaxError",
    "Truth",
    "Vocabulary",
    "Window",
    "check_trial",
    "compile_trial",
    "load_trial",
    "parse_trial",
]
