"""The typed AST of a trial definition; every node keeps its Span for file:line:col reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from service.criteria.errors import Span
from service.criteria.inputs import RecordKind


class CriterionKind(Enum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class TimeUnit(Enum):
    YEAR = "year"
    MONTH = "month"
    WEEK = "week"
    DAY = "day"
    HOUR = "hour"


# Calendar months and years as days: CQL's "6 months" window, rounded to whole days.
DAYS_PER_UNIT = {
    TimeUnit.YEAR: 365.25,
    TimeUnit.MONTH: 30.4375,
    TimeUnit.WEEK: 7.0,
    TimeUnit.DAY: 1.0,
    TimeUnit.HOUR: 1 / 24,
}


@dataclass(frozen=True, slots=True)
class Duration:
    amount: float
    unit: TimeUnit

    @property
    def days(self) -> float:
        return self.amount * DAYS_PER_UNIT[self.unit]

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        return f"{amount} {self.unit.value}{'' if self.amount == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: str  # UCUM
    span: Span


@dataclass(frozen=True, slots=True)
class DurationLiteral:
    duration: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class UlnMultiple:
    factor: float
    span: Span


@dataclass(frozen=True, slots=True)
class UnknownLiteral:
    """`unknown("...")`: what no record in the chart can show, named for the report."""

    missing: str
    span: Span


@dataclass(frozen=True, slots=True)
class Retrieve:
    resource: RecordKind
    concepts: tuple[str, ...]
    active: bool
    polarity: str | None  # "positive" | "negative"
    within: Duration | None
    at_least_ago: Duration | None
    span: Span
    concept_spans: tuple[Span, ...]
    within_half_lives: float | None = None  # "within 3 half-lives": each drug's own half-life


@dataclass(frozen=True, slots=True)
class Exists:
    source: Retrieve
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]
    span: Span
    unit: str | None = None  # Latest / Highest after checking: the unit its value is read in (or "ULN")


@dataclass(frozen=True, slots=True)
class Ref:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # >= <= > < = !=
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Between:
    value: Expr
    low: Expr
    high: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # + - * /
    left: Expr
    right: Expr
    span: Span


Expr = (
    Number
    | Quantity
    | DurationLiteral
    | UlnMultiple
    | UnknownLiteral
    | Retrieve
    | Exists
    | Call
    | Ref
    | Not
    | And
    | Or
    | Compare
    | Between
    | Arithmetic
)


@dataclass(frozen=True, slots=True)
class Define:
    name: str
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Cohort:
    id: str
    title: str
    span: Span


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    kind: CriterionKind
    text: str
    cohort: str | None  # None: common to every cohort
    expr: Expr | None  # None: manual review, no record can decide it
    span: Span


@dataclass(frozen=True, slots=True)
class Trial:
    id: str
    title: str
    short: str  # the name a clinician reads on a card (defaults to the id)
    registry: str | None
    source: str | None
    defines: tuple[Define, ...]
    cohorts: tuple[Cohort, ...]
    criteria: tuple[Criterion, ...]
    file: str
    span: Span
