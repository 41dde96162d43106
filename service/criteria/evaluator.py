"""AST → closures, compiled once per trial and run per patient.

Values are intervals so that imprecise inputs (a birth year without a day) decide a comparison only
when every possible value gives the same answer. Missing data is a value (`missing` texts), never an
exception: it makes a comparison unknown and tells the report which data would decide it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from service.criteria import ast
from service.criteria.checker import CheckResult
from service.criteria.inputs import (
    Event,
    EventQuery,
    EventStatus,
    Evidence,
    MeasurementQuery,
    Missing,
    PatientData,
    Polarity,
    Window,
)
from service.criteria.truth import Truth, and_, not_, or_
from service.criteria.vocabulary import Vocabulary


@dataclass(frozen=True, slots=True)
class Outcome:
    truth: Truth
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scalar:
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
    itself (PatientFacts), once per patient for all trials."""

    __slots__ = ("data", "defines", "on")

    def __init__(self, data: PatientData, on: dt.date) -> None:
        self.data = data
        self.on = on
        self.defines: dict[str, Any] = {}

    def find(self, query: EventQuery) -> Sequence[Event] | Missing:
        return self.data.events(query, self.on)


Compiled = Callable[[Env], Any]
_UNSET: Any = object()
Q = TypeVar("Q", EventQuery, MeasurementQuery)
_QUERIES: dict[object, Any] = {}


def _interned(query: Q) -> Q:
    """One instance per distinct query across all trials: the per-patient memo then finds a trial's query by
    identity instead of comparing field by field."""
    found: Q = _QUERIES.setdefault(query, query)
    return found


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
        if truth is Truth.UNKNOWN or not deciding.missing:
            return deciding
        return Outcome(truth, deciding.evidence)
    missing = _merge_pair(a.missing, b.missing) if truth is Truth.UNKNOWN else ()
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
        return Truth.MET
    return Truth.NOT_MET if not_met else Truth.UNKNOWN


def _compare(op: str, a: Scalar, b: Scalar) -> Outcome:
    evidence = _merge_pair(a.evidence, b.evidence)
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return Outcome(Truth.UNKNOWN, evidence, _merge_pair(a.missing, b.missing))
    truth = _compare_truth(op, a.low, a.high, b.low, b.high)
    missing = _merge_pair(a.missing, b.missing) if truth is Truth.UNKNOWN else ()
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
    shown = sorted(events, key=lambda e: e.end or e.start or dt.date.min, reverse=True)[:MAX_EVIDENCE]
    return tuple(e.evidence for e in shown)


class _Compiler:
    def __init__(self, trial: ast.Trial, checked: CheckResult, vocabulary: Vocabulary) -> None:
        self.checked = checked
        self.vocabulary = vocabulary
        self.defines: dict[str, Compiled] = {}
        self.define_nodes = {d.name: d for d in trial.defines}

    def label(self, concepts: tuple[str, ...]) -> str:
        return " or ".join(self.vocabulary.label(c) for c in concepts)

    def compile(self, expr: ast.Expr) -> Compiled:
        if isinstance(expr, ast.Number):
            constant = _exact(expr.value)
            return lambda env: constant
        if isinstance(expr, ast.Quantity):
            quantity = _exact(expr.value)
            return lambda env: quantity
        if isinstance(expr, ast.DurationLiteral):
            duration = _exact(expr.duration.days)
            return lambda env: duration
        if isinstance(expr, ast.UlnMultiple):
            factor = _exact(expr.factor)
            return lambda env: factor
        if isinstance(expr, ast.UnknownLiteral):
            unknown = Outcome(Truth.UNKNOWN, (), (expr.missing,))
            return lambda env: unknown
        if isinstance(expr, ast.Retrieve):
            raise AssertionError("a bare retrieve is only valid as an argument")  # pragma: no cover
        if isinstance(expr, ast.Exists):
            return self.exists(expr.source)
        if isinstance(expr, ast.Ref):
            return self.ref(expr.name)
        if isinstance(expr, ast.Call):
            return self.call(expr)
        if isinstance(expr, ast.Not):
            operand = self.compile(expr.operand)

            def negate(env: Env) -> Outcome:
                inner: Outcome = operand(env)
                return Outcome(not_(inner.truth), inner.evidence, inner.missing)

            return negate
        if isinstance(expr, ast.And | ast.Or):
            return self.logical(expr)
        if isinstance(expr, ast.Compare):
            left, right, op = self.compile(expr.left), self.compile(expr.right), expr.op
            return lambda env: _compare(op, left(env), right(env))
        if isinstance(expr, ast.Between):
            return self.between(expr)
        if isinstance(expr, ast.Arithmetic):
            left, right, op = self.compile(expr.left), self.compile(expr.right), expr.op
            return lambda env: _arithmetic(op, left(env), right(env))
        raise AssertionError(f"unhandled node {expr!r}")  # pragma: no cover

    def logical(self, expr: ast.And | ast.Or) -> Compiled:
        left, right = self.compile(expr.left), self.compile(expr.right)
        combine = and_ if isinstance(expr, ast.And) else or_

        def run(env: Env) -> Outcome:
            a: Outcome = left(env)
            b: Outcome = right(env)
            return _combine(combine(a.truth, b.truth), a, b)

        return run

    def between(self, expr: ast.Between) -> Compiled:
        value, low, high = self.compile(expr.value), self.compile(expr.low), self.compile(expr.high)

        return lambda env: _between(value(env), low(env), high(env))

    def ref(self, name: str) -> Compiled:
        if name not in self.defines:
            self.defines[name] = self.compile(self.define_nodes[name].expr)
        body = self.defines[name]

        def run(env: Env) -> Any:
            value = env.defines.get(name, _UNSET)
            if value is _UNSET:
                value = env.defines[name] = body(env)
            return value

        return run

    def query(self, node: ast.Retrieve) -> EventQuery:
        window = Window(
            within_days=round(node.within.days) if node.within else None,
            before_days=round(node.at_least_ago.days) if node.at_least_ago else None,
        )
        polarity = Polarity(node.polarity) if node.polarity else None
        status = EventStatus.ACTIVE if node.active else EventStatus.ANY
        query = EventQuery(node.resource, frozenset(node.concepts), window, status, polarity, node.within_half_lives)
        return _interned(query)

    def exists(self, node: ast.Retrieve) -> Compiled:
        query = self.query(node)
        what = self.label(node.concepts)
        if node.polarity:
            what = f"{node.polarity} {what} result"

        def run(env: Env) -> Outcome:
            events = env.find(query)
            if isinstance(events, Missing):
                return Outcome(Truth.UNKNOWN, (), (events.reason,))
            certain = [e for e in events if e.certain]
            if certain:
                return Outcome(Truth.MET, _latest_evidence(certain))
            if events:
                doubtful = events[0]
                why = (
                    f"{what}: {doubtful.doubt} ({doubtful.evidence.display})"
                    if doubtful.doubt
                    else f"Date of {what} ({doubtful.evidence.display}){_window_text(query)}"
                )
                return Outcome(Truth.UNKNOWN, tuple(e.evidence for e in events[:MAX_EVIDENCE]), (why,))
            return Outcome(Truth.NOT_MET)

        return run

    def call(self, node: ast.Call) -> Compiled:
        name = node.function
        if name in ("Latest", "Highest"):
            return self.latest(node)
        if name == "Positive":
            return self.positive(node)
        if name in ("Count", "Earliest", "MostRecent"):
            return self.over_records(node)
        if name in ("Exposure", "LongestExposure"):
            return self.exposure(node)
        if name == "AgeInYears":
            return _age
        if name in ("IsFemale", "IsMale"):
            wanted = "female" if name == "IsFemale" else "male"
            return lambda env: _is_sex(env, wanted)
        if name == "Today":
            return lambda env: _exact(float(env.on.toordinal()))
        if name == "CreatinineClearance":
            return _creatinine_clearance
        raise AssertionError(f"unchecked function {name}")  # pragma: no cover

    def latest(self, node: ast.Call) -> Compiled:
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        unit = self.checked.latest_units.get(node.span)
        if unit is None:  # a Latest that is never compared is reported by the checker
            raise AssertionError(f"Latest at {node.span} has no unit")
        highest = node.function == "Highest"
        query = _interned(MeasurementQuery(frozenset(retrieve.concepts), unit, self.query(retrieve).window, highest))

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

    def positive(self, node: ast.Call) -> Compiled:
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        base = self.query(retrieve)
        positives = _interned(EventQuery(base.kind, base.concepts, base.window, base.status, Polarity.POSITIVE))
        negatives = _interned(EventQuery(base.kind, base.concepts, base.window, base.status, Polarity.NEGATIVE))
        wanted = f"{self.label(retrieve.concepts)} result{_window_text(base)}"

        def run(env: Env) -> Outcome:
            found_events = env.find(positives)
            if isinstance(found_events, Missing):
                return Outcome(Truth.UNKNOWN, (), (found_events.reason,))
            found = [e for e in found_events if e.certain]
            if found:
                return Outcome(Truth.MET, _latest_evidence(found))
            negative_events = env.find(negatives)  # only asked when no positive result decides
            negative = [] if isinstance(negative_events, Missing) else [e for e in negative_events if e.certain]
            if negative:
                return Outcome(Truth.NOT_MET, _latest_evidence(negative))
            return Outcome(Truth.UNKNOWN, (), (wanted,))

        return run

    def over_records(self, node: ast.Call) -> Compiled:
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

    def exposure(self, node: ast.Call) -> Compiled:
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
                (
                    _interned(EventQuery(base.kind, frozenset({c}), base.window, base.status, None, base.half_lives)),
                    self.label((c,)),
                )
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


def _exposure(events: Sequence[Event] | Missing, what: str) -> Scalar:
    """Covered days of one group of records: surely `low`, at most `high` (None: an undated record)."""
    if isinstance(events, Missing):
        return Scalar(0.0, None, (), (events.reason,))
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
        return Outcome(Truth.UNKNOWN, (), ("Administrative sex",))
    return Outcome(Truth.MET if sex == wanted else Truth.NOT_MET)


CREATININE = _interned(MeasurementQuery(frozenset({"serum-creatinine"}), "mg/dL"))
WEIGHT = _interned(MeasurementQuery(frozenset({"body-weight"}), "kg"))


def _creatinine_clearance(env: Env) -> Scalar:
    """Cockcroft-Gault in mL/min from the latest serum creatinine, weight, age and sex (×0.85 female)."""
    creatinine = env.data.latest(CREATININE, env.on)
    weight = env.data.latest(WEIGHT, env.on)
    age = _age(env)
    sex = env.data.sex()
    missing = [m.reason for m in (creatinine, weight) if isinstance(m, Missing)]
    missing.extend(age.missing if age.low is None else ())
    if isinstance(sex, Missing) or sex not in ("female", "male"):
        factors = (0.85, 1.0)
        missing.append("Administrative sex")
    else:
        factors = (0.85, 0.85) if sex == "female" else (1.0, 1.0)
    if isinstance(creatinine, Missing) or isinstance(weight, Missing) or age.low is None or age.high is None:
        return Scalar(None, None, (), tuple(missing))
    if creatinine.value <= 0:
        return Scalar(None, None, (creatinine.evidence,), ("A positive serum creatinine value",))
    # same-day results that disagree give ranges: the clearance spans their extremes
    creatinine_high, weight_high = creatinine.high or creatinine.value, weight.high or weight.value
    missing.extend(m.doubt for m in (creatinine, weight) if m.doubt)
    low = (140 - age.high) * weight.value / (72 * creatinine_high) * factors[0]
    high = (140 - age.low) * weight_high / (72 * creatinine.value) * factors[1]
    evidence = (creatinine.evidence, weight.evidence)
    return Scalar(low, high, evidence, (*tuple(missing), *age.missing))


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    criterion: ast.Criterion
    result: str  # "met" | "not-met" | "unknown" | "manual"
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...]


class Evaluation:
    """One patient's criteria of one trial, each evaluated at most once and only when asked for: a caller that
    only needs a status can stop early, and one that then needs the whole report loses nothing."""

    __slots__ = ("_env", "_outcomes", "_rules")

    def __init__(self, rules: tuple[tuple[ast.Criterion, Compiled | None], ...], env: Env) -> None:
        self._rules = rules
        self._env = env
        self._outcomes: list[CriterionOutcome | None] = [None] * len(rules)

    def outcome(self, index: int) -> CriterionOutcome:
        found = self._outcomes[index]
        if found is None:
            found = self._outcomes[index] = self._evaluate(*self._rules[index])
        return found

    def all(self) -> list[CriterionOutcome]:
        return [self.outcome(i) for i in range(len(self._rules))]

    def _evaluate(self, criterion: ast.Criterion, rule: Compiled | None) -> CriterionOutcome:
        if rule is None:
            return CriterionOutcome(criterion, "manual", (), ())
        outcome: Outcome = rule(self._env)
        missing = outcome.missing
        if outcome.truth is Truth.UNKNOWN and not missing:
            missing = (f"Data to decide: {criterion.text}",)
        return CriterionOutcome(criterion, outcome.truth.value, outcome.evidence, missing)


@dataclass(frozen=True, slots=True)
class CompiledTrial:
    trial: ast.Trial
    _rules: tuple[tuple[ast.Criterion, Compiled | None], ...]

    def start(self, data: PatientData, on: dt.date) -> Evaluation:
        """Criteria in file order, evaluated on demand (`Evaluation.outcome(i)` for `trial.criteria[i]`)."""
        return Evaluation(self._rules, Env(data, on))

    def evaluate(self, data: PatientData, on: dt.date) -> list[CriterionOutcome]:
        return self.start(data, on).all()


def compile_trial(trial: ast.Trial, checked: CheckResult, vocabulary: Vocabulary) -> CompiledTrial:
    compiler = _Compiler(trial, checked, vocabulary)
    rules = tuple((c, None if c.expr is None else compiler.compile(c.expr)) for c in trial.criteria)
    return CompiledTrial(trial, rules)
