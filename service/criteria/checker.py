"""Static checks of a parsed trial: names, concepts, units and types, every problem at once.

The checker also decides, for each `Latest(...)` / `Highest(...)`, the unit its value must be read in (the unit
of the literal it is compared with), and returns the trial with that unit written on the call (`ast.Call.unit`),
so the evaluator never guesses a unit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum

from service.criteria import ast
from service.criteria.errors import Diagnostic, Span, TrialCheckError, caret_context
from service.criteria.inputs import RecordKind
from service.criteria.vocabulary import Vocabulary


class Kind(Enum):
    BOOLEAN = "boolean"
    NUMBER = "number"
    QUANTITY = "quantity"
    DURATION = "duration"
    DATE = "date"
    ULN = "multiple of ULN"
    MEASUREMENT = "measurement"
    RECORDS = "records"
    ERROR = "error"  # already reported; silences follow-up errors


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    unit: str | None = None  # QUANTITY: its UCUM unit
    concepts: tuple[str, ...] = ()  # MEASUREMENT / RECORDS: what was retrieved
    resource: RecordKind | None = None  # RECORDS: the kind of record

    def __str__(self) -> str:
        if self.kind is Kind.QUANTITY:
            return f"quantity in '{self.unit}'"
        if self.kind is Kind.RECORDS:
            return f"list of {self.resource} records"
        return str(self.kind.value)


BOOLEAN, NUMBER, DURATION, DATE = Type(Kind.BOOLEAN), Type(Kind.NUMBER), Type(Kind.DURATION), Type(Kind.DATE)
ULN, ERROR = Type(Kind.ULN), Type(Kind.ERROR)

# Units a bare number can be compared with: scores and ratios carry no physical dimension.
DIMENSIONLESS_UNITS = frozenset({None, "1", "{score}", "%", "{titer}", "{INR}", "{ratio}"})


@dataclass(frozen=True, slots=True)
class Signature:
    params: tuple[RecordKind | None, ...]  # each argument a retrieve of records of this kind (None: any kind)
    result: Type
    derived: str | None = None  # served by the patient data (`PatientData.derived`) under this id


FUNCTIONS: dict[str, Signature] = {
    "Latest": Signature((RecordKind.OBSERVATION,), Type(Kind.MEASUREMENT)),
    "Highest": Signature((RecordKind.OBSERVATION,), Type(Kind.MEASUREMENT)),
    "Positive": Signature((RecordKind.OBSERVATION,), BOOLEAN),
    "Count": Signature((None,), NUMBER),
    "Earliest": Signature((None,), DATE),
    "MostRecent": Signature((None,), DATE),
    "Exposure": Signature((RecordKind.MEDICATION,), DURATION),
    "LongestExposure": Signature((RecordKind.MEDICATION,), DURATION),
    "AgeInYears": Signature((), NUMBER),
    "IsFemale": Signature((), BOOLEAN),
    "IsMale": Signature((), BOOLEAN),
    "Today": Signature((), DATE),
    "CreatinineClearance": Signature((), Type(Kind.QUANTITY, unit="mL/min"), derived="creatinine-clearance"),
}

ACTIVE_RESOURCES = frozenset({RecordKind.CONDITION, RecordKind.MEDICATION})


class _Checker:
    def __init__(self, trial: ast.Trial, vocabulary: Vocabulary, source: str) -> None:
        self.trial = trial
        self.vocabulary = vocabulary
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.defines = {d.name: d for d in trial.defines}
        self.define_types: dict[str, Type] = {}
        self.in_progress: list[str] = []
        self.used: set[str] = set()
        self.read_units: dict[int, str] = {}  # id(Latest call) -> unit, written onto the call by `annotated`

    def error(self, span: Span, message: str) -> Type:
        self.diagnostics.append(
            Diagnostic(
                self.trial.file,
                span.line,
                span.column,
                message,
                caret_context(self.source, span.line, span.column),
            )
        )
        return ERROR

    # ---- structure ----
    def run(self) -> None:
        seen_defines: set[str] = set()
        for define in self.trial.defines:
            if define.name in seen_defines:
                self.error(define.span, f"definition {define.name} is defined twice")
            seen_defines.add(define.name)
            if define.name in FUNCTIONS:
                self.error(define.span, f"definition {define.name} hides the built-in function")
        cohort_ids: set[str] = set()
        for cohort in self.trial.cohorts:
            if cohort.id in cohort_ids:
                self.error(cohort.span, f'cohort "{cohort.id}" is declared twice')
            cohort_ids.add(cohort.id)
        criterion_ids: set[str] = set()
        for criterion in self.trial.criteria:
            if criterion.id in criterion_ids:
                self.error(criterion.span, f'criterion id "{criterion.id}" is used twice in this trial')
            criterion_ids.add(criterion.id)
            if not criterion.text.strip():
                self.error(criterion.span, f'criterion "{criterion.id}" has no text')
            if criterion.expr is not None:
                self.expect_boolean(criterion.expr, f'criterion "{criterion.id}"')
        for define in self.trial.defines:
            self.define_type(define)
            if define.name not in self.used:
                self.error(define.span, f"definition {define.name} is never used")

    def expect_boolean(self, expr: ast.Expr, what: str) -> None:
        found = self.type_of(expr)
        if found.kind not in (Kind.BOOLEAN, Kind.ERROR):
            self.error(expr.span, f"{what} must be true/false, but this is a {found}")

    def define_type(self, define: ast.Define) -> Type:
        if define.name in self.define_types:
            return self.define_types[define.name]
        if define.name in self.in_progress:
            return self.error(define.span, f"definition {define.name} refers to itself")
        self.in_progress.append(define.name)
        found = self.type_of(define.expr)
        self.in_progress.pop()
        self.define_types[define.name] = found
        return found

    # ---- expressions ----
    def type_of(self, expr: ast.Expr) -> Type:
        if isinstance(expr, ast.Number):
            return NUMBER
        if isinstance(expr, ast.Quantity):
            return Type(Kind.QUANTITY, unit=expr.unit)
        if isinstance(expr, ast.DurationLiteral):
            return DURATION
        if isinstance(expr, ast.UlnMultiple):
            return ULN
        if isinstance(expr, ast.UnknownLiteral):
            if not expr.missing.strip():
                self.error(expr.span, "unknown(...) needs a text saying which data would decide it")
            return BOOLEAN
        if isinstance(expr, ast.Retrieve):
            return self.retrieve(expr)
        if isinstance(expr, ast.Exists):
            self.retrieve(expr.source)
            return BOOLEAN
        if isinstance(expr, ast.Ref):
            define = self.defines.get(expr.name)
            if define is None:
                hint = " (functions need parentheses)" if expr.name in FUNCTIONS else ""
                return self.error(expr.span, f"undefined name {expr.name}{hint}")
            self.used.add(expr.name)
            return self.define_type(define)
        if isinstance(expr, ast.Call):
            return self.call(expr)
        if isinstance(expr, ast.Not):
            self.expect_boolean(expr.operand, "the operand of not")
            return BOOLEAN
        if isinstance(expr, ast.And | ast.Or):
            word = "and" if isinstance(expr, ast.And) else "or"
            self.expect_boolean(expr.left, f"the left side of {word}")
            self.expect_boolean(expr.right, f"the right side of {word}")
            return BOOLEAN
        if isinstance(expr, ast.Compare):
            return self.compare(expr.left, self.type_of(expr.left), expr.right, self.type_of(expr.right), expr.span)
        if isinstance(expr, ast.Between):
            value, low, high = self.type_of(expr.value), self.type_of(expr.low), self.type_of(expr.high)
            if low.kind is Kind.QUANTITY and high.kind is Kind.QUANTITY and low.unit != high.unit:
                return self.error(expr.span, f"write both bounds in the same unit, not {low} and {high}")
            self.compare(expr.value, value, expr.low, low, expr.span)
            self.compare(expr.value, value, expr.high, high, expr.span)
            return BOOLEAN
        if isinstance(expr, ast.Arithmetic):
            return self.arithmetic(expr)
        raise AssertionError(f"unhandled node {expr!r}")  # pragma: no cover

    def retrieve(self, node: ast.Retrieve) -> Type:
        """RECORDS, or ERROR when a concept is unknown (so that nothing downstream asks about its unit)."""
        known = True
        for concept, span in zip(node.concepts, node.concept_spans, strict=True):
            if not self.vocabulary.has_concept(concept, node.resource):
                self.error(span, f'unknown {node.resource} concept "{concept}"')
                known = False
        if node.active and node.resource not in ACTIVE_RESOURCES:
            self.error(node.span, f"'active' applies to Condition and Medication, not {node.resource}")
        if node.polarity is not None and node.resource is not RecordKind.OBSERVATION:
            self.error(node.span, f"'{node.polarity}' applies to Observation results only")
        if node.within_half_lives is not None:
            if node.resource is not RecordKind.MEDICATION:
                self.error(node.span, f"'half-lives' applies to Medication records, not {node.resource}")
            elif node.within is not None:
                self.error(node.span, "write either 'within N half-lives' or a 'within' duration, not both")
            elif known:
                for concept, span in zip(node.concepts, node.concept_spans, strict=True):
                    if self.vocabulary.half_life_hours(concept) is None:
                        self.error(span, f'no half-life is known for every drug of "{concept}"')
        return Type(Kind.RECORDS, concepts=node.concepts, resource=node.resource) if known else ERROR

    def call(self, node: ast.Call) -> Type:
        signature = FUNCTIONS.get(node.function)
        if signature is None:
            return self.error(node.span, f"unknown function {node.function}")
        if len(node.args) != len(signature.params):
            return self.error(
                node.span,
                f"{node.function} takes {len(signature.params)} argument(s), got {len(node.args)}",
            )
        concepts: tuple[str, ...] = ()
        for arg, param in zip(node.args, signature.params, strict=True):
            if not isinstance(arg, ast.Retrieve):
                self.error(arg.span, f'{node.function} needs a retrieve like [Observation: "anc"]')
                continue
            found = self.retrieve(arg)
            if found.kind is Kind.ERROR:
                return ERROR
            if param is not None and found.resource is not param:
                self.error(arg.span, f"{node.function} reads {param} records, not {found.resource}")
            concepts = found.concepts
        if signature.result.kind is Kind.MEASUREMENT:
            return Type(Kind.MEASUREMENT, concepts=concepts)
        return signature.result

    def compare(self, left_expr: ast.Expr, left: Type, right_expr: ast.Expr, right: Type, span: Span) -> Type:
        if Kind.ERROR in (left.kind, right.kind):
            return BOOLEAN
        if right.kind is Kind.MEASUREMENT and left.kind is not Kind.MEASUREMENT:
            left, right, left_expr, right_expr = right, left, right_expr, left_expr
        if left.kind is Kind.MEASUREMENT:
            unit = self.measurement_unit(left, right, span)
            if unit is not None and not isinstance(left_expr, ast.Call):
                self.error(span, "compare Latest(...) where it is written: its unit comes from that comparison")
            elif unit is not None:
                self.read_units[id(left_expr)] = unit
            return BOOLEAN
        if left.kind is Kind.QUANTITY and right.kind is Kind.QUANTITY:
            if left.unit != right.unit:
                self.error(span, f"cannot compare a {left} with a {right}: write both in the same unit")
            return BOOLEAN
        if left.kind is right.kind and left.kind in (Kind.NUMBER, Kind.DURATION, Kind.DATE):
            return BOOLEAN
        self.error(span, f"cannot compare a {left} with a {right}")
        return BOOLEAN

    def measurement_unit(self, measurement: Type, other: Type, span: Span) -> str | None:
        if other.kind is Kind.QUANTITY:
            unit = other.unit or ""
        elif other.kind is Kind.ULN:
            unit = "ULN"
        elif other.kind is Kind.NUMBER:
            units = {self.vocabulary.concept_unit(c) for c in measurement.concepts}
            if not units <= DIMENSIONLESS_UNITS:
                shown = ", ".join(sorted(u for u in units if u))
                self.error(span, f"compare this measurement with a quantity in units (its unit is {shown})")
                return None
            return next(iter(units)) or "1"
        else:
            self.error(span, f"cannot compare a measurement with a {other}")
            return None
        for concept in measurement.concepts:
            if not self.vocabulary.is_commensurable(concept, unit):
                own = self.vocabulary.concept_unit(concept)
                what = "a multiple of the upper limit of normal" if unit == "ULN" else f"'{unit}'"
                self.error(span, f'"{concept}" (unit {own}) cannot be compared with {what}')
                return None
        return unit

    def arithmetic(self, node: ast.Arithmetic) -> Type:
        left, right = self.type_of(node.left), self.type_of(node.right)
        if Kind.ERROR in (left.kind, right.kind):
            return ERROR
        kinds = (left.kind, right.kind)
        if node.op in "+-" and kinds == (Kind.DATE, Kind.DURATION):
            return DATE
        if node.op == "-" and kinds == (Kind.DATE, Kind.DATE):
            return DURATION
        if kinds == (Kind.NUMBER, Kind.NUMBER):
            return NUMBER
        if node.op in "*/" and kinds == (Kind.QUANTITY, Kind.NUMBER):
            return left
        return self.error(node.span, f"cannot compute {left} {node.op} {right}")

    # ---- annotation ----
    def annotated(self, expr: ast.Expr) -> ast.Expr:
        """`expr` with each Latest / Highest call carrying its read unit (unchanged nodes are kept, not copied)."""
        if isinstance(expr, ast.Call):
            unit = self.read_units.get(id(expr))
            return expr if unit is None else replace(expr, unit=unit)
        changes = {
            f.name: self.annotated(value)
            for f in fields(expr)
            if isinstance(value := getattr(expr, f.name), _COMPOSITE)
        }
        changed = {name: value for name, value in changes.items() if value is not getattr(expr, name)}
        return replace(expr, **changed) if changed else expr  # type: ignore[arg-type]


# nodes that may hold a Latest call below them (Exists holds a Retrieve only)
_COMPOSITE = (ast.Call, ast.Not, ast.And, ast.Or, ast.Compare, ast.Between, ast.Arithmetic)


def check_trial(trial: ast.Trial, vocabulary: Vocabulary, source: str = "") -> ast.Trial:
    """Every problem of the trial at once, or the trial annotated for the evaluator (`ast.Call.unit`)."""
    checker = _Checker(trial, vocabulary, source)
    checker.run()
    if checker.diagnostics:
        ordered = sorted(checker.diagnostics, key=lambda d: (d.line, d.column))
        raise TrialCheckError(ordered)
    return replace(
        trial,
        defines=tuple(replace(d, expr=checker.annotated(d.expr)) for d in trial.defines),
        criteria=tuple(c if c.expr is None else replace(c, expr=checker.annotated(c.expr)) for c in trial.criteria),
    )
