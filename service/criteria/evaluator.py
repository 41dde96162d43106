"""AST → closures, compiled once per trial and run per patient.

Values are intervals so that imprecise inputs (a birth year without a day) decide a comparison only
when every possible value gives the same answer. Missing data is a value (`missing` texts), never an
exception: it makes a comparison unknown and tells the report which data would decide it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, TypeVar

from service.criteria import ast
from service.criteria.checker import FUNCTIONS
from service.criteria.errors import EvaluationError, Span
from service.criteria.inputs import (
    Estimate,
    Event,
    EventQuery,
    EventStatus,
    Evidence,
    IndexedPatientData,
    MeasurementQuery,
    Missing,
    PatientData,
    Polarity,
    Window,
)
from service.criteria.truth import MET, NOT_MET, UNKNOWN, Truth, and_, not_, or_
from service.criteria.vocabulary import Vocabulary


class Outcome(NamedTuple):
    """A true / false / unknown result with what explains it. Outcome and Scalar are named tuples, not frozen
    dataclasses: the walk makes one per expression, and a tuple is built several times faster."""

    truth: Truth
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()


class Scalar(NamedTuple):
    """A number, a date (as an ordinal day) or a duration (in days), as an interval [low, high].

    low/high None: the value is missing (`missing` says what would give it). low < high: imprecise
    (`missing` says what would make it exact).
    """

    low: float | None
    high: float | None
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()


class Env:
    """One evaluation: one patient, one date; caches definitions. Retrieves are memoised by the patient data
    itself (PatientFacts), once per patient for all trials.

    `held` (the concepts the patient's records carry) and `blank` (the same patient with no records, shared by every
    patient with the same gaps): given both, a sub-expression that reads none of `held` answers with the blank's
    answer (`_Compiler.sparse`).
    """

    __slots__ = ("blank", "data", "defines", "held", "on")

    def __init__(
        self, data: PatientData, on: dt.date, held: AbstractSet[str] | None = None, blank: Env | None = None
    ) -> None:
        self.data = data
        self.on = on
        # definitions' values by name; in a blank's Env also its answers to the parts `sparse` gave it, by rule
        self.defines: dict[object, Outcome | Scalar] = {}
        self.held = held
        self.blank = blank

    def find(self, query: EventQuery) -> Sequence[Event] | Missing:
        return self.data.events(query, self.on)


Rule = Callable[[Env], Outcome]  # a compiled true / false / unknown expression
Value = Callable[[Env], Scalar]  # a compiled number, quantity, date or duration
Q = TypeVar("Q", EventQuery, MeasurementQuery)
T = TypeVar("T", Outcome, Scalar)


class QueryTable:
    """One instance per distinct query among the trials compiled with one table: the per-patient memo then finds
    a trial's query by identity instead of comparing it field by field. Owned by whoever loads the trials."""

    __slots__ = ("_queries",)

    def __init__(self) -> None:
        self._queries: dict[object, object] = {}

    def intern(self, query: Q) -> Q:
        found: Q = self._queries.setdefault(query, query)  # type: ignore[assignment]
        return found


class _LocatedError(Exception):
    """An expression of a criterion failed at `span` (the cause is `__cause__`); made an EvaluationError above."""

    def __init__(self, span: Span) -> None:
        self.span = span
        super().__init__(span)


def _located(span: Span, body: Callable[[Env], T]) -> Callable[[Env], T]:
    """`body` with the source position attached to whatever it raises (around each read of patient data)."""

    def run(env: Env) -> T:
        try:
            return body(env)
        except _LocatedError:
            raise
        except Exception as error:
            raise _LocatedError(span) from error

    return run


MAX_EVIDENCE = 3


def _merge_pair(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """Concatenate without duplicates, keeping order; most groups are empty, so skip work then."""
    if not b or a == b:
        return a
    if not a:
        return b
    return tuple(dict.fromkeys(a + b))


def _combine(truth: Truth, a: Outcome, b: Outcome) -> Outcome:
    """Explain a result by the parts that agree with it (both parts when neither does)."""
    a_agrees, b_agrees = a.truth is truth, b.truth is truth
    if a_agrees is not b_agrees:
        deciding = a if a_agrees else b
        if truth is UNKNOWN or not deciding.missing:
            return deciding
        return Outcome(truth, deciding.evidence)
    missing = _merge_pair(a.missing, b.missing) if truth is UNKNOWN else ()
    return Outcome(truth, _merge_pair(a.evidence, b.evidence), missing)


def _exact(value: float, evidence: tuple[Evidence, ...] = ()) -> Scalar:
    return Scalar(value, value, evidence)


def _same(a: float, b: float) -> bool:
    """Converted units leave float noise (0.9999999999 for 1): equal to 10 significant digits is equal."""
    if a == b:
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 5e-10 * max(abs(a), abs(b))


def _below(a: float, b: float) -> bool:
    return a < b and not _same(a, b)


def _compare_truth(op: str, a_low: float, a_high: float, b_low: float, b_high: float) -> Truth:
    if op == ">=":
        met, not_met = not _below(a_low, b_high), _below(a_high, b_low)
    elif op == ">":
        met, not_met = _below(b_high, a_low), not _below(b_low, a_high)
    elif op == "<=":
        met, not_met = not _below(b_low, a_high), _below(b_high, a_low)
    elif op == "<":
        met, not_met = _below(a_high, b_low), not _below(a_low, b_high)
    else:  # "=" or "!="
        equal = _same(a_low, a_high) and _same(b_low, b_high) and _same(a_low, b_low)
        apart = _below(a_high, b_low) or _below(b_high, a_low)
        met, not_met = (equal, apart) if op == "=" else (apart, equal)
    if met:
        return MET
    return NOT_MET if not_met else UNKNOWN


def _compare(op: str, a: Scalar, b: Scalar) -> Outcome:
    evidence = _merge_pair(a.evidence, b.evidence)
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return Outcome(UNKNOWN, evidence, _merge_pair(a.missing, b.missing))
    truth = _compare_truth(op, a.low, a.high, b.low, b.high)
    missing = _merge_pair(a.missing, b.missing) if truth is UNKNOWN else ()
    return Outcome(truth, evidence, missing)


def _arithmetic(op: str, a: Scalar, b: Scalar) -> Scalar:
    evidence = _merge_pair(a.evidence, b.evidence)
    missing = _merge_pair(a.missing, b.missing)
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return Scalar(None, None, evidence, missing)
    if op == "+":
        return Scalar(a.low + b.low, a.high + b.high, evidence, missing)
    if op == "-":
        return Scalar(a.low - b.high, a.high - b.low, evidence, missing)
    if op == "/" and b.low <= 0 <= b.high:
        return Scalar(None, None, evidence, (*missing, "a non-zero divisor"))
    corners = (
        [a.low * b.low, a.low * b.high, a.high * b.low, a.high * b.high]
        if op == "*"
        else [a.low / b.low, a.low / b.high, a.high / b.low, a.high / b.high]
    )
    return Scalar(min(corners), max(corners), evidence, missing)


def _window_text(query: EventQuery) -> str:
    if query.half_lives is not None:
        return f" within {query.half_lives:g} half-lives"
    if query.window.within_days is not None:
        return f" within the last {query.window.within_days} days"
    if query.window.before_days is not None:
        return f" at least {query.window.before_days} days ago"
    return ""


def _latest_evidence(events: Sequence[Event]) -> tuple[Evidence, ...]:
    """The evidence of the most recent events, as many as a report shows."""
    if len(events) < 2:  # most queries: nothing to sort
        return (events[0].evidence,) if events else ()
    shown = sorted(events, key=lambda e: e.end or e.start or dt.date.min, reverse=True)[:MAX_EVIDENCE]
    return tuple(e.evidence for e in shown)


class _Compiler:
    """Compiles expressions the checker typed: `rule` for true/false/unknown ones, `value` for the others."""

    def __init__(self, trial: ast.Trial, vocabulary: Vocabulary, queries: QueryTable) -> None:
        self.vocabulary = vocabulary
        self.queries = queries
        self.define_nodes = {d.name: d for d in trial.defines}
        self.define_exprs = {d.name: d.expr for d in trial.defines}
        self.define_rules: dict[str, Rule] = {}
        self.define_values: dict[str, Value] = {}

    def sparse(self, expr: ast.Expr, body: Rule, whole: ast.Expr) -> Rule:
        """`body`, answered by the blank patient when the patient holds none of the concepts `expr` reads; as is
        when that test could never skip it (it reads no concept, or all that `whole`, the expression around it,
        reads: then `whole` is walked only when one is held)."""
        reads = _reads(expr, self.define_exprs)
        if not reads or reads == _reads(whole, self.define_exprs):
            return body

        def run(env: Env) -> Outcome:
            blank, held = env.blank, env.held
            if blank is None or held is None or not held.isdisjoint(reads):
                return body(env)
            found: Any = blank.defines.get(run)
            if found is None:
                found = blank.defines[run] = body(blank)
            return found  # type: ignore[no-any-return]

        return run

    def label(self, concepts: tuple[str, ...]) -> str:
        return " or ".join(self.vocabulary.label(c) for c in concepts)

    def rule(self, expr: ast.Expr) -> Rule:
        if isinstance(expr, ast.UnknownLiteral):
            unknown = Outcome(UNKNOWN, (), (expr.missing,))
            return lambda env: unknown
        if isinstance(expr, ast.Exists):
            return _located(expr.span, self.exists(expr.source))
        if isinstance(expr, ast.Ref):
            if expr.name not in self.define_rules:
                self.define_rules[expr.name] = _defined(expr.name, self.rule(self.define_nodes[expr.name].expr))
            return self.define_rules[expr.name]
        if isinstance(expr, ast.Call):
            return _located(expr.span, self.boolean_call(expr))
        if isinstance(expr, ast.Not):
            operand = self.rule(expr.operand)

            def negate(env: Env) -> Outcome:
                inner = operand(env)
                return Outcome(not_(inner.truth), inner.evidence, inner.missing)

            return negate
        if isinstance(expr, ast.And | ast.Or):
            return self.logical(expr)
        if isinstance(expr, ast.Compare):
            left, right, op = self.value(expr.left), self.value(expr.right), expr.op
            return lambda env: _compare(op, left(env), right(env))
        if isinstance(expr, ast.Between):
            value, low, high = self.value(expr.value), self.value(expr.low), self.value(expr.high)
            return lambda env: _between(value(env), low(env), high(env))
        raise AssertionError(f"not a true/false expression: {expr!r}")  # pragma: no cover

    def value(self, expr: ast.Expr) -> Value:
        if isinstance(expr, ast.Number | ast.Quantity):
            constant = _exact(expr.value)
            return lambda env: constant
        if isinstance(expr, ast.DurationLiteral):
            duration = _exact(expr.duration.days)
            return lambda env: duration
        if isinstance(expr, ast.UlnMultiple):
            factor = _exact(expr.factor)
            return lambda env: factor
        if isinstance(expr, ast.Ref):
            if expr.name not in self.define_values:
                self.define_values[expr.name] = _defined(expr.name, self.value(self.define_nodes[expr.name].expr))
            return self.define_values[expr.name]
        if isinstance(expr, ast.Call):
            return _located(expr.span, self.value_call(expr))
        if isinstance(expr, ast.Arithmetic):
            left, right, op = self.value(expr.left), self.value(expr.right), expr.op
            return lambda env: _arithmetic(op, left(env), right(env))
        raise AssertionError(f"not a value: {expr!r}")  # pragma: no cover

    def logical(self, expr: ast.And | ast.Or) -> Rule:
        left = self.sparse(expr.left, self.rule(expr.left), expr)
        right = self.sparse(expr.right, self.rule(expr.right), expr)
        combine = and_ if isinstance(expr, ast.And) else or_

        def run(env: Env) -> Outcome:
            a, b = left(env), right(env)
            return _combine(combine(a.truth, b.truth), a, b)

        return run

    def query(self, node: ast.Retrieve) -> EventQuery:
        window = Window(
            within_days=round(node.within.days) if node.within else None,
            before_days=round(node.at_least_ago.days) if node.at_least_ago else None,
        )
        polarity = Polarity(node.polarity) if node.polarity else None
        status = EventStatus.ACTIVE if node.active else EventStatus.ANY
        query = EventQuery(node.resource, frozenset(node.concepts), window, status, polarity, node.within_half_lives)
        return self.queries.intern(query)

    def exists(self, node: ast.Retrieve) -> Rule:
        query = self.query(node)
        what = self.label(node.concepts)
        if node.polarity:
            what = f"{node.polarity} {what} result"

        def run(env: Env) -> Outcome:
            events = env.find(query)
            if isinstance(events, Missing):
                return Outcome(UNKNOWN, (), (events.reason,))
            certain = [e for e in events if e.certain]
            if certain:
                return Outcome(MET, _latest_evidence(certain))
            if events:
                doubtful = events[0]
                why = (
                    f"{what}: {doubtful.doubt} ({doubtful.evidence.display})"
                    if doubtful.doubt
                    else f"Date of {what} ({doubtful.evidence.display}){_window_text(query)}"
                )
                return Outcome(UNKNOWN, tuple(e.evidence for e in events[:MAX_EVIDENCE]), (why,))
            return Outcome(NOT_MET)

        return run

    def boolean_call(self, node: ast.Call) -> Rule:
        name = node.function
        if name == "Positive":
            return self.positive(node)
        if name in ("IsFemale", "IsMale"):
            wanted = "female" if name == "IsFemale" else "male"
            return lambda env: _is_sex(env, wanted)
        raise AssertionError(f"unchecked function {name}")  # pragma: no cover

    def value_call(self, node: ast.Call) -> Value:
        name = node.function
        if name in ("Latest", "Highest"):
            return self.latest(node)
        if name in ("Count", "Earliest", "MostRecent"):
            return self.over_records(node)
        if name in ("Exposure", "LongestExposure"):
            return self.exposure(node)
        if name == "AgeInYears":
            return _age
        if name == "Today":
            return lambda env: _exact(float(env.on.toordinal()))
        derived = FUNCTIONS[name].derived
        if derived is not None:
            return lambda env: _estimated(env.data.derived(derived, env.on))
        raise AssertionError(f"unchecked function {name}")  # pragma: no cover

    def latest(self, node: ast.Call) -> Value:
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        if node.unit is None:  # a Latest that is never compared is reported by the checker
            raise AssertionError(f"Latest at {node.span} has no unit")
        highest = node.function == "Highest"
        window = self.query(retrieve).window
        query = self.queries.intern(MeasurementQuery(frozenset(retrieve.concepts), node.unit, window, highest))

        def run(env: Env) -> Scalar:
            found = env.data.latest(query, env.on)
            if isinstance(found, Missing):
                return Scalar(None, None, (), (found.reason,))
            evidence = found.evidence
            if found.note:
                evidence = Evidence(evidence.reference, f"{evidence.display}; {found.note}")
            if found.high is not None:
                return Scalar(found.value, found.high, (evidence,), (found.doubt or f"Exact {evidence.display}",))
            return _exact(found.value, (evidence,))

        return run

    def positive(self, node: ast.Call) -> Rule:
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        base = self.query(retrieve)
        positives = self.queries.intern(replace(base, polarity=Polarity.POSITIVE))
        negatives = self.queries.intern(replace(base, polarity=Polarity.NEGATIVE))
        wanted = f"{self.label(retrieve.concepts)} result{_window_text(base)}"

        def run(env: Env) -> Outcome:
            found_events = env.find(positives)
            if isinstance(found_events, Missing):
                return Outcome(UNKNOWN, (), (found_events.reason,))
            found = [e for e in found_events if e.certain]
            if found:
                return Outcome(MET, _latest_evidence(found))
            negative_events = env.find(negatives)  # only asked when no positive result decides
            negative = [] if isinstance(negative_events, Missing) else [e for e in negative_events if e.certain]
            if negative:
                return Outcome(NOT_MET, _latest_evidence(negative))
            return Outcome(UNKNOWN, (), (wanted,))

        return run

    def over_records(self, node: ast.Call) -> Value:
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        query = self.query(retrieve)
        what = self.label(retrieve.concepts)
        name = node.function

        def run(env: Env) -> Scalar:
            events = env.find(query)
            if isinstance(events, Missing):
                return Scalar(None, None, (), (events.reason,))
            certain = [e for e in events if e.certain]
            evidence = _latest_evidence(certain)
            if name == "Count":
                undated = (f"Dates of {what} records{_window_text(query)}",) if len(certain) < len(events) else ()
                return Scalar(float(len(certain)), float(len(events)), evidence, undated)
            starts = [e.start for e in certain if e.start is not None]
            ends = [day for e in certain if (day := e.end or e.start) is not None]
            if not starts:
                return Scalar(None, None, evidence, (f"Dated {what} record",))
            day = min(starts) if name == "Earliest" else max(ends)
            return _exact(float(day.toordinal()), evidence)

        return run

    def exposure(self, node: ast.Call) -> Value:
        """Exposure: days covered by any listed drug; LongestExposure: by the one listed drug covered longest.

        Overlapping records are merged and gaps not counted. A record that does not say how long the drug was
        taken widens the interval (it may have lasted until today), so the comparison can come out unknown.
        """
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        base = self.query(retrieve)
        groups: tuple[tuple[EventQuery, str], ...]
        if node.function == "Exposure":
            groups = ((base, self.label(retrieve.concepts)),)
        else:
            groups = tuple(
                (self.queries.intern(replace(base, concepts=frozenset({c}), polarity=None)), self.label((c,)))
                for c in retrieve.concepts
            )

        def run(env: Env) -> Scalar:
            results = [_exposure(env.find(query), what) for query, what in groups]
            low = max(r.low or 0.0 for r in results)
            high = max(math.inf if r.high is None else r.high for r in results)
            evidence = tuple(e for r in results for e in r.evidence)[:MAX_EVIDENCE]
            missing = tuple(m for r in results for m in r.missing) if low != high else ()
            return Scalar(low, high, evidence, missing)

        return run


def _defined(name: str, body: Callable[[Env], T]) -> Callable[[Env], T]:
    """A definition's body, evaluated once per evaluation however many criteria refer to it."""

    def run(env: Env) -> T:
        found: Any = env.defines.get(name)
        if found is None:
            found = env.defines[name] = body(env)
        return found  # type: ignore[no-any-return]

    return run


def _estimated(estimate: Estimate) -> Scalar:
    return Scalar(estimate.low, estimate.high, estimate.evidence, estimate.missing)


def _covered_days(periods: Iterable[tuple[dt.date, dt.date]]) -> float:
    """Days in the union of inclusive [first, last] periods."""
    total, reached = 0, None
    for first, last in sorted(periods):
        if reached is not None and last <= reached:
            continue
        begin = first if reached is None or first > reached else reached + dt.timedelta(days=1)
        total += (last - begin).days + 1
        reached = last
    return float(total)


_NO_EXPOSURE = Scalar(0.0, 0.0)  # what the rest of `_exposure` gives for no record


def _exposure(events: Sequence[Event] | Missing, what: str) -> Scalar:
    """Covered days of one group of records: surely `low`, at most `high` (None: an undated record)."""
    if isinstance(events, Missing):
        return Scalar(0.0, None, (), (events.reason,))
    if not events:
        return _NO_EXPOSURE
    courses = [e.course for e in events if e.course is not None]
    # only certain records prove days taken; a doubtful one (named only by text, unconfirmed) may add them
    low = _covered_days((e.course.first, e.course.proven_last) for e in events if e.certain and e.course is not None)
    undated = len(events) - len(courses)
    open_ended = sum(1 for e in events if e.course is not None and (not e.course.exact or not e.certain))
    high = None if undated else _covered_days((c.earliest_first, c.latest_last) for c in courses)
    missing: list[str] = []
    if open_ended:
        missing.append(
            f"How long {what} was taken ({open_ended} record(s) with no end date or supply duration, or not certain)"
        )
    if undated:
        missing.append(f"Dates of {what} records ({undated} record(s) without a date)")
    return Scalar(low, high, _latest_evidence(events), tuple(missing))


def _between(value: Scalar, low: Scalar, high: Scalar) -> Outcome:
    lower, upper = _compare(">=", value, low), _compare("<=", value, high)
    return _combine(and_(lower.truth, upper.truth), lower, upper)


def _years_between(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age(env: Env) -> Scalar:
    born = env.data.birth_date_range()
    if isinstance(born, Missing):
        return Scalar(None, None, (), (born.reason,))
    earliest, latest = born
    low, high = _years_between(latest, env.on), _years_between(earliest, env.on)
    missing = () if low == high else ("Complete date of birth (only part of it is recorded)",)
    return Scalar(float(low), float(high), (), missing)


def _is_sex(env: Env, wanted: str) -> Outcome:
    sex = env.data.sex()
    if isinstance(sex, Missing) or sex not in ("female", "male"):
        return Outcome(UNKNOWN, (), ("Administrative sex",))
    return Outcome(MET if sex == wanted else NOT_MET)


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    criterion: ast.Criterion
    result: str  # "met" | "not-met" | "unknown" | "manual"
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...]
    # One object given to every patient a blank evaluation answers for: what callers derive from it (a report
    # line) they may keep by identity.
    shared: bool = field(default=False, compare=False)


class Evaluation:
    """One patient's criteria of one trial, each evaluated at most once and only when asked for: a caller that
    only needs a status can stop early, and one that then needs the whole report loses nothing.

    With `blank` (the same patient with no records), a criterion that reads no concept the patient has a record
    of takes the blank's outcome: it is what walking its rule would give (`PatientData.events` and `latest` answer
    absent concepts from the gaps alone), computed once per trial, gaps and day instead of once per patient.
    """

    __slots__ = ("_blank", "_env", "_outcomes", "_plan", "_shared", "_trial")

    def __init__(
        self,
        trial: ast.Trial,
        plan: _Plan,
        env: Env,
        blank: tuple[AbstractSet[str], Evaluation] | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self._trial = trial
        self._plan = plan
        self._env = env
        self._blank = blank
        self._shared = shared  # a blank patient's: its outcomes are shared
        self._outcomes: list[CriterionOutcome | None] = [None] * len(plan)

    def outcome(self, index: int) -> CriterionOutcome:
        """Raises EvaluationError (trial, criterion, source position) when the criterion fails: a defect."""
        found = self._outcomes[index]
        if found is None:
            criterion, rule, reads = self._plan[index]
            blank = self._blank
            if blank is not None and reads is not None and blank[0].isdisjoint(reads):
                found = blank[1].outcome(index)
            else:
                found = self._evaluate(criterion, rule)
            self._outcomes[index] = found
        return found

    def all(self) -> list[CriterionOutcome]:
        return [self.outcome(i) for i in range(len(self._plan))]

    @property
    def env(self) -> Env:
        return self._env

    def _evaluate(self, criterion: ast.Criterion, rule: Rule | None) -> CriterionOutcome:
        if rule is None:
            return CriterionOutcome(criterion, "manual", (), (), self._shared)
        try:
            outcome = rule(self._env)
        except _LocatedError as located:
            raise self._error(criterion, located.span, located.__cause__ or located) from located.__cause__
        except Exception as error:
            raise self._error(criterion, criterion.span, error) from error
        missing = outcome.missing
        if outcome.truth is UNKNOWN and not missing:
            missing = (f"Data to decide: {criterion.text}",)
        # `_value_`: the member's own attribute (`.value` is a Python-level property)
        return CriterionOutcome(criterion, outcome.truth._value_, outcome.evidence, missing, self._shared)

    def _error(self, criterion: ast.Criterion, span: Span, cause: BaseException) -> EvaluationError:
        return EvaluationError(self._trial.file, self._trial.id, criterion.id, span, cause)


# Per criterion: its compiled rule (None: manual, reads nothing) and the concepts it reads (None: it reads the
# patient otherwise).
_Plan = tuple[tuple[ast.Criterion, Rule | None, frozenset[str] | None], ...]
_MAX_BLANKS = 64  # blank evaluations kept per trial: one per (day, gaps) seen, cleared when full


@dataclass(frozen=True, slots=True)
class CompiledTrial:
    trial: ast.Trial
    _plan: _Plan
    _blanks: dict[tuple[dt.date, Hashable], Evaluation] = field(default_factory=dict, compare=False, repr=False)

    def start(self, data: PatientData, on: dt.date) -> Evaluation:
        """Criteria in file order, evaluated on demand (`Evaluation.outcome(i)` for `trial.criteria[i]`), every
        one by walking its rule: the reference `start_indexed` must agree with."""
        return Evaluation(self.trial, self._plan, Env(data, on))

    def start_indexed(self, data: IndexedPatientData, on: dt.date) -> Evaluation:
        """As `start`, but criteria that read no concept the patient has records of take the outcome of a blank
        patient with the same gaps (evaluated as `start` does, once per gaps and day)."""
        key = (on, data.gaps())
        blank = self._blanks.get(key)
        if blank is None:
            if len(self._blanks) >= _MAX_BLANKS:
                self._blanks.clear()
            blank = self._blanks[key] = Evaluation(self.trial, self._plan, Env(data.blank(), on), shared=True)
        held = data.concepts_held()
        return Evaluation(self.trial, self._plan, Env(data, on, held, blank.env), (held, blank))

    def evaluate(self, data: PatientData, on: dt.date) -> list[CriterionOutcome]:
        return self.start(data, on).all()


_PERSONAL = frozenset({"AgeInYears", "IsFemale", "IsMale"})  # read the patient's demographics, not records


def _reads(expr: ast.Expr, defines: dict[str, ast.Expr]) -> frozenset[str] | None:
    """The concepts an expression reads, through definitions; None when it also reads the patient otherwise
    (demographics, a derived estimate): a record-free answer then cannot stand for the patient's."""
    concepts: set[str] = set()
    pending, seen = [expr], set()
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Retrieve):
            concepts.update(node.concepts)
        elif isinstance(node, ast.Exists):
            pending.append(node.source)
        elif isinstance(node, ast.Call):
            if node.function in _PERSONAL or FUNCTIONS[node.function].derived is not None:
                return None
            pending.extend(node.args)
        elif isinstance(node, ast.Ref):
            if node.name not in seen:
                seen.add(node.name)
                pending.append(defines[node.name])
        elif isinstance(node, ast.Not):
            pending.append(node.operand)
        elif isinstance(node, ast.And | ast.Or | ast.Compare | ast.Arithmetic):
            pending.extend((node.left, node.right))
        elif isinstance(node, ast.Between):
            pending.extend((node.value, node.low, node.high))
    return frozenset(concepts)


def compile_trial(checked: ast.Trial, vocabulary: Vocabulary, queries: QueryTable | None = None) -> CompiledTrial:
    """Compile a trial the checker returned (its Latest calls carry their units). Trials compiled with one
    `queries` table share their query objects, so a patient's memo answers them by identity."""
    compiler = _Compiler(checked, vocabulary, queries or QueryTable())
    plan = tuple(
        (c, None, frozenset()) if c.expr is None else (c, compiler.rule(c.expr), _reads(c.expr, compiler.define_exprs))
        for c in checked.criteria
    )
    return CompiledTrial(checked, plan)
