"""Errors of the criteria language; load-time errors always say file:line:col.

    CriteriaError
     ├─ TrialSyntaxError   the text does not parse (one Diagnostic, with a caret line)
     └─ TrialCheckError    it parses but does not type-check (every Diagnostic, not just the first)

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
