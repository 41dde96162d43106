"""Errors of the criteria language; load-time errors always say file:line:col.

    CriteriaError
     ├─ TrialSyntaxError   the text does not parse (one Diagnostic, with a caret line)
     └─ TrialCheckError    it parses but does not type-check (every Diagnostic, not just the first)
    EvaluationError        a checked criterion failed on one patient (a defect, never missing data)

Missing patient data is never an error: it is a value that evaluates to "unknown".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    message: str
    context: str = ""  # the source line and a caret under the column

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n{self.context}" if self.context else text


def caret_context(source: str, line: int, column: int) -> str:
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1]
    return f"    {text}\n    {' ' * (column - 1)}^"


class CriteriaError(Exception):
    """Base of every load-time error of a trial definition."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class TrialSyntaxError(CriteriaError):
    """The trial text does not follow the grammar."""


class TrialCheckError(CriteriaError):
    """The trial parses but refers to unknown names, concepts or mixes types."""


class EvaluationError(Exception):
    """A criterion raised while evaluating one patient, located like cql-execution's annotated errors: the trial,
    the criterion and the source position of the innermost expression that failed; the cause is `__cause__`."""

    def __init__(self, file: str, trial: str, criterion: str, span: Span, cause: BaseException) -> None:
        self.file = file
        self.trial = trial
        self.criterion = criterion
        self.span = span
        super().__init__(
            f"{file}:{span.line}:{span.column}: trial {trial}, criterion {criterion}: {type(cause).__name__}: {cause}"
        )
