"""Trials compiled to Python functions once (`codegen`), run per patient with the data reads defined here.

Values are intervals so that imprecise inputs (a birth year without a day) decide a comparison only
when every possible value gives the same answer. Missing data is a value (`missing` texts), never an
exception: it makes a comparison unknown and tells the report which data would decide it.
"""

from __future__ import annotations

import datetime as dt
import linecache
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, cast

from service.criteria import ast
from service.criteria.code_cache import compile_functions
from service.criteria.codegen import QueryTable, Source, generate
from service.criteria.errors import EvaluationError, Span
from service.criteria.inputs import (
    Estimate,
    Event,
    EventQuery,
    Evidence,
    IndexedPatientData,
    MeasurementQuery,
    Missing,
    PatientData,
)
from service.criteria.truth import MET, NOT_MET, UNKNOWN, Truth
from service.criteria.vocabulary import Vocabulary

# What the generated code computes, as plain tuples (the cheapest Python value to build and unpack):
# a true / false / unknown result with what explains it, and a number, a date (as an ordinal day) or a duration
# (in days) as an interval [low, high]: low/high None when missing (`missing` says what would give it), low < high
# when imprecise (`missing` says what would make it exact).
Outcome = tuple[Truth, tuple[Evidence, ...], tuple[str, ...]]
Scalar = tuple[float | None, float | None, tuple[Evidence, ...], tuple[str, ...]]
Answers = dict[int, Scalar]  # the data reads' results for one patient and date (`Env.answers`)


class Env:
    """One evaluation: one patient, one date; caches definitions. Retrieves are memoised by the patient data
    itself (PatientFacts), once per patient for all trials.

    `held` (the concepts the patient's records carry) and `blank` (the same patient with no records, shared by every
    patient with the same gaps): given both, a part of an And/Or that reads none of `held` answers with the blank's
    answer (`_blank_part`).

    `answers`: the data reads' own results (`_latest`, `_exposure`, `_age`) by the id of their query constant (of
    `_age` for the age), which depend on the patient and date alone: the evaluations of one patient's trials may share
    one dict, as trials ask the same questions (one Latest of a query ~2.4 times per patient, an exposure's groups
    ~1.4 times, the age ~8 times); the generated code reads a Latest's and an exposure's there before it calls.
    """

    __slots__ = ("answers", "blank", "data", "defines", "held", "on")

    def __init__(
        self,
        data: PatientData,
        on: dt.date,
        held: AbstractSet[str] | None = None,
        blank: Env | None = None,
        answers: Answers | None = None,
    ) -> None:
        self.data = data
        self.on = on
        # definitions' values by name; in a blank's Env also its answers to the parts given to it, by number, and
        # whether it has records of an exposure's groups (`_blank_has_records`)
        self.defines: dict[object, Outcome | Scalar | bool] = {}
        self.held = held
        self.blank = blank
        self.answers = {} if answers is None else answers


Rule = Callable[[Env], Outcome]  # a compiled part of a criterion (`_blank_part`)


MAX_EVIDENCE = 3


def _merge_pair(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """Concatenate without duplicates, keeping order; most groups are empty, so skip work then, and many hold one
    item each (two different ones: `a == b` compared them), which need no hashing."""
    if not b or a == b:
        return a
    if not a:
        return b
    if len(a) == 1 and len(b) == 1:
        return a + b
    return tuple(dict.fromkeys(a + b))


def _same(a: float, b: float) -> bool:
    """Converted units leave float noise (0.9999999999 for 1): equal to 10 significant digits is equal."""
    if a == b:
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 5e-10 * max(abs(a), abs(b))


def _below(a: float, b: float) -> bool:
    return a < b and not _same(a, b)


def _compare_truth(op: str, a_low: float, a_high: float, b_low: float, b_high: float) -> Truth:
    """`=` and `!=` of intervals (the generated code inlines the orderings)."""
    equal = _same(a_low, a_high) and _same(b_low, b_high) and _same(a_low, b_low)
    apart = _below(a_high, b_low) or _below(b_high, a_low)
    met, not_met = (equal, apart) if op == "=" else (apart, equal)
    if met:
        return MET
    return NOT_MET if not_met else UNKNOWN


def _arithmetic(op: str, a: Scalar, b: Scalar) -> Scalar:
    a_low, a_high, a_evidence, a_missing = a
    b_low, b_high, b_evidence, b_missing = b
    evidence = _merge_pair(a_evidence, b_evidence)
    missing = _merge_pair(a_missing, b_missing)
    if a_low is None or a_high is None or b_low is None or b_high is None:
        return None, None, evidence, missing
    if op == "+":
        return a_low + b_low, a_high + b_high, evidence, missing
    if op == "-":
        return a_low - b_high, a_high - b_low, evidence, missing
    if op == "/" and b_low <= 0 <= b_high:
        return None, None, evidence, (*missing, "a non-zero divisor")
    corners = (
        [a_low * b_low, a_low * b_high, a_high * b_low, a_high * b_high]
        if op == "*"
        else [a_low / b_low, a_low / b_high, a_high / b_low, a_high / b_high]
    )
    return min(corners), max(corners), evidence, missing


def _latest_evidence(events: Sequence[Event]) -> tuple[Evidence, ...]:
    """The evidence of the most recent events, as many as a report shows."""
    if len(events) < 2:  # most queries: nothing to sort
        return (events[0].evidence,) if events else ()
    shown = sorted(events, key=lambda e: e.end or e.start or dt.date.min, reverse=True)[:MAX_EVIDENCE]
    return tuple(e.evidence for e in shown)


# -- the data reads the generated code calls, one per Exists or function call of the trial --
def _exists(env: Env, query: EventQuery, what: str, window: str) -> Outcome:
    events = env.data.events(query, env.on)
    if isinstance(events, Missing):
        return UNKNOWN, (), (events.reason,)
    if not events:  # a third of the calls
        return NOT_MET, (), ()
    certain = [e for e in events if e.certain]
    if certain:
        return MET, _latest_evidence(certain), ()
    doubtful = events[0]
    why = (
        f"{what}: {doubtful.doubt} ({doubtful.evidence.display})"
        if doubtful.doubt
        else f"Date of {what} ({doubtful.evidence.display}){window}"
    )
    return UNKNOWN, tuple(e.evidence for e in events[:MAX_EVIDENCE]), (why,)


def _positive(env: Env, positives: EventQuery, negatives: EventQuery, wanted: str) -> Outcome:
    found_events = env.data.events(positives, env.on)
    if isinstance(found_events, Missing):
        return UNKNOWN, (), (found_events.reason,)
    found = [e for e in found_events if e.certain]
    if found:
        return MET, _latest_evidence(found), ()
    negative_events = env.data.events(negatives, env.on)  # only asked when no positive result decides
    negative = [] if isinstance(negative_events, Missing) else [e for e in negative_events if e.certain]
    if negative:
        return NOT_MET, _latest_evidence(negative), ()
    return UNKNOWN, (), (wanted,)


def _latest(env: Env, query: MeasurementQuery) -> Scalar:
    """A Latest's answer, kept in `answers` by the id of the query: the generated code reads it there first (the
    query is a constant of the generated code, alive as long as the compiled trial, which outlives a patient's
    `answers`)."""
    found = env.data.latest(query, env.on)
    if isinstance(found, Missing):
        answer: Scalar = (None, None, (), (found.reason,))
    else:
        evidence = found.evidence
        if found.note:
            evidence = Evidence.of(evidence.reference, f"{evidence.display}; {found.note}")
        if found.high is not None:
            answer = found.value, found.high, (evidence,), (found.doubt or f"Exact {evidence.display}",)
        else:
            answer = found.value, found.value, (evidence,), ()
    env.answers[id(query)] = answer
    return answer


def _over_records(env: Env, query: EventQuery, name: str, what: str, window: str) -> Scalar:
    """Count, Earliest or MostRecent."""
    events = env.data.events(query, env.on)
    if isinstance(events, Missing):
        return None, None, (), (events.reason,)
    certain = [e for e in events if e.certain]
    evidence = _latest_evidence(certain)
    if name == "Count":
        undated = (f"Dates of {what} records{window}",) if len(certain) < len(events) else ()
        return float(len(certain)), float(len(events)), evidence, undated
    starts = [e.start for e in certain if e.start is not None]
    ends = [day for e in certain if (day := e.end or e.start) is not None]
    if not starts:
        return None, None, evidence, (f"Dated {what} record",)
    day = min(starts) if name == "Earliest" else max(ends)
    return float(day.toordinal()), float(day.toordinal()), evidence, ()


def _exposure(env: Env, groups: tuple[tuple[EventQuery, str], ...]) -> Scalar:
    """Exposure (one group: every listed drug) or LongestExposure (a group per drug): days covered by the group
    covered longest, kept in `answers` by the id of the groups (a constant of the generated code, which reads it
    there first, as for `_latest`).

    Overlapping records are merged and gaps not counted. A record that does not say how long the drug was
    taken widens the interval (it may have lasted until today), so the comparison can come out unknown.
    """
    answer = env.answers[id(groups)] = _exposed(env, groups)
    return answer


def _exposed(env: Env, groups: tuple[tuple[EventQuery, str], ...]) -> Scalar:
    """`_exposure` worked out: the same whichever trial's Env asks (with or without `held`, whichever blank: a group
    is skipped only when the patient's answer for it is the blank's, and that one has no records)."""
    low, high = 0.0, 0.0
    evidence: list[Evidence] = []
    missing: list[str] = []
    held = env.held
    # a group of drugs the patient holds no record of answers as the blank patient does: nothing, when it has none
    skip_absent = held is not None and not _blank_has_records(env.blank, groups)
    for query, what in groups:
        if skip_absent and held.isdisjoint(query.concepts):  # type: ignore[union-attr]  # not None when skipping
            continue
        events = env.data.events(query, env.on)
        if not events:  # most groups (a drug the patient never had): no days, nothing to show
            continue
        group_low, group_high, group_evidence, group_missing = _group_exposure(events, what)
        low, high = max(low, group_low), max(high, math.inf if group_high is None else group_high)
        evidence += group_evidence
        missing += group_missing
    return low, high, tuple(evidence[:MAX_EVIDENCE]), tuple(missing) if low != high else ()


def _blank_has_records(blank: Env | None, groups: tuple[tuple[EventQuery, str], ...]) -> bool:
    """Whether the blank patient (no records, the patient's gaps) gets any answer but none for one of the groups
    (an unreadable type's Missing), worked out once per blank and kept in its `defines`."""
    assert blank is not None  # a patient's Env with `held` has its blank
    key = ("exposure", id(groups))  # the groups are a constant of the generated code: alive as long as the blank
    found = blank.defines.get(key)
    if found is None:
        found = blank.defines[key] = any(blank.data.events(query, blank.on) for query, _ in groups)
    return found is True


_ONE_DAY = dt.timedelta(days=1)


def _covered_days(periods: Iterable[tuple[dt.date, dt.date]]) -> float:
    """Days in the union of inclusive [first, last] periods."""
    total, reached = 0, None
    for first, last in sorted(periods):
        if reached is not None and last <= reached:
            continue
        begin = first if reached is None or first > reached else reached + _ONE_DAY
        total += (last - begin).days + 1
        reached = last
    return float(total)


def _group_exposure(
    events: Sequence[Event] | Missing, what: str
) -> tuple[float, float | None, tuple[Evidence, ...], tuple[str, ...]]:
    """Covered days of one group of records (some): surely `low`, at most `high` (None: an undated record)."""
    if isinstance(events, Missing):
        return 0.0, None, (), (events.reason,)
    proven: list[tuple[dt.date, dt.date]] = []
    undated = open_ended = 0
    for event in events:  # one pass: a group is read once per criterion that asks it
        course = event.course
        if course is None:
            undated += 1
        elif not event.certain:  # a doubtful record (named only by text, unconfirmed) proves no days, may add them
            open_ended += 1
        else:
            proven.append((course.first, course.proven_last))
            if not course.exact:
                open_ended += 1
    low = _covered_days(proven)
    if undated:
        high = None
    elif open_ended:
        high = _covered_days([(e.course.earliest_first, e.course.latest_last) for e in events])  # type: ignore[union-attr]  # all dated
    else:  # every record certain and exact: the days possible are the days proven
        high = low
    missing: list[str] = []
    if open_ended:
        missing.append(
            f"How long {what} was taken ({open_ended} record(s) with no end date or supply duration, or not certain)"
        )
    if undated:
        missing.append(f"Dates of {what} records ({undated} record(s) without a date)")
    return low, high, _latest_evidence(events), tuple(missing)


def _years_between(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age(env: Env) -> Scalar:
    """Kept in `answers` by the id of this function (trials ask it ~8 times per patient; only a patient's own
    criteria read it, never a blank's)."""
    answer = env.answers.get(_AGE)
    if answer is not None:
        return answer
    born = env.data.birth_date_range()
    if isinstance(born, Missing):
        answer = (None, None, (), (born.reason,))
    else:
        earliest, latest = born
        low, high = _years_between(latest, env.on), _years_between(earliest, env.on)
        answer = (
            float(low),
            float(high),
            (),
            () if low == high else ("Complete date of birth (only part of it is recorded)",),
        )
    env.answers[_AGE] = answer
    return answer


_AGE = id(_age)


def _today(env: Env) -> Scalar:
    day = float(env.on.toordinal())
    return day, day, (), ()


def _derived(env: Env, name: str) -> Scalar:
    estimate: Estimate = env.data.derived(name, env.on)
    return estimate.low, estimate.high, estimate.evidence, estimate.missing


def _is_sex(env: Env, wanted: str) -> Outcome:
    sex = env.data.sex()
    if isinstance(sex, Missing) or sex not in ("female", "male"):
        return UNKNOWN, (), ("Administrative sex",)
    return (MET if sex == wanted else NOT_MET), (), ()


def _blank_part(env: Env, function: Rule, key: int) -> Outcome:
    """A side of an And/Or that reads none of the concepts the patient holds: the blank patient's answer, computed
    once and kept in the blank's `defines` by the part's number (the generated code reads it there first)."""
    blank = cast(Env, env.blank)  # a patient's Env with `held` has its blank
    found = blank.defines[key] = function(blank)
    return found


class CriterionOutcome(NamedTuple):
    """One criterion's result. A named tuple: immutable, since a blank patient's is shared by every patient it
    answers for, and built as fast as a plain dataclass (a frozen one costs several times more, one per criterion)."""

    criterion: ast.Criterion
    result: str  # "met" | "not-met" | "unknown" | "manual"
    evidence: tuple[Evidence, ...]
    missing: tuple[str, ...]


# The globals of every generated module (with its own constants): the names `codegen` writes calls to.
_RUNTIME: dict[str, object] = {
    "CriterionOutcome": CriterionOutcome,
    "_new_outcome": tuple.__new__,  # a named tuple made directly: its own __new__ is a Python function around it
    "_blank_part": _blank_part,
    "MET": MET,
    "NOT_MET": NOT_MET,
    "UNKNOWN": UNKNOWN,
    "_merge_pair": _merge_pair,
    "_same": _same,
    "_compare_truth": _compare_truth,
    "_arithmetic": _arithmetic,
    "_exists": _exists,
    "_positive": _positive,
    "_latest": _latest,
    "_over_records": _over_records,
    "_exposure": _exposure,
    "_age": _age,
    "_today": _today,
    "_derived": _derived,
    "_is_sex": _is_sex,
}


class Evaluation:
    """One patient's criteria of one trial, each evaluated at most once and only when asked for: a caller that
    only needs a status can stop early, and one that then needs the whole report loses nothing.

    From `CompiledTrial.start_indexed`, a criterion that reads no concept the patient has a record of takes the
    outcome of the blank patient (the same patient with no records): it is what running its function would give
    (`PatientData.events` and `latest` answer absent concepts from the gaps alone), computed once per trial, gaps
    and day instead of once per patient. Those outcomes are known from the start; which criteria the patient
    evaluates itself (`own`) is worked out once per evaluation from the concepts it holds, not criterion by
    criterion.
    """

    __slots__ = ("_blank", "_env", "_outcomes", "_own", "_rules", "_source", "_trial")

    def __init__(
        self,
        trial: ast.Trial,
        rules: tuple[CriterionRule, ...],
        source: Source,
        env: Env,
        blank: list[CriterionOutcome | None] | None = None,
        own: Sequence[int] = (),
        outcomes: list[CriterionOutcome | None] | None = None,
    ) -> None:
        """`blank`: the blank patient's outcomes, taken for every criterion but the indices `own` (file order; None
        where the criterion reads the patient otherwise), and `outcomes` a copy of them with None at `own`; every
        criterion is evaluated when not given."""
        self._trial = trial
        self._rules = rules
        self._source = source
        self._env = env
        self._blank = blank
        self._outcomes: list[CriterionOutcome | None]
        self._own: Sequence[int]
        if blank is None or outcomes is None:
            self._outcomes, self._own = [None] * len(rules), range(len(rules))
        else:
            self._outcomes, self._own = outcomes, own

    def outcome(self, index: int) -> CriterionOutcome:
        """Raises EvaluationError (trial, criterion, source position) when the criterion fails: a defect."""
        found = self._outcomes[index]
        if found is None:
            try:
                found = self._outcomes[index] = self._rules[index](self._env)
            except Exception as error:
                raise self._failure(index, error) from error
        return found

    def all(self) -> list[CriterionOutcome]:
        outcomes, rules, env = self._outcomes, self._rules, self._env
        for i in self._own:  # file order
            if outcomes[i] is None:
                try:
                    outcomes[i] = rules[i](env)
                except Exception as error:
                    raise self._failure(i, error) from error
        return list(outcomes)  # type: ignore[arg-type]

    @property
    def env(self) -> Env:
        return self._env

    @property
    def so_far(self) -> list[CriterionOutcome | None]:
        """The outcomes known yet, by index (None: not evaluated yet), live: what shows which criteria a caller
        made this evaluation run (tests/unit/screening/test_ruled_out.py: ruling a chart out evaluates none)."""
        return self._outcomes

    @property
    def blank_outcomes(self) -> list[CriterionOutcome | None] | None:
        """The blank patient's outcomes (one list per trial, gaps and day) that every criterion but `own` took
        as its own; None from `CompiledTrial.start`. A report can build what they share once."""
        return self._blank

    @property
    def own(self) -> Sequence[int]:
        """The indices of the criteria this patient evaluates itself, in file order."""
        return self._own

    def _failure(self, index: int, error: Exception) -> EvaluationError:
        """A criterion's function failed (a defect): where, as the trial file, criterion and source position."""
        criterion = self._trial.criteria[index]
        span = _failed_read(self._source, error.__traceback__) or criterion.span
        return EvaluationError(self._trial.file, self._trial.id, criterion.id, span, error)


def _failed_read(source: Source, trace: TracebackType | None) -> Span | None:
    """The span of the data read the innermost generated function was at when it failed (None: not at a read,
    e.g. in arithmetic: the criterion as a whole is then reported)."""
    span = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == source.filename:
            span = source.spans.get(trace.tb_lineno)
        trace = trace.tb_next
    return span


# A compiled criterion: its whole outcome (`_Generator.criterion`).
CriterionRule = Callable[[Env], CriterionOutcome]
# Per criterion: its compiled rule and the concepts it reads (None: it reads the patient otherwise; none: manual).
_Plan = tuple[tuple[ast.Criterion, CriterionRule, frozenset[str] | None], ...]
_MAX_BLANKS = 64  # blank evaluations kept per trial: one per (day, gaps) seen, cleared when full
# Which criteria a patient evaluates itself, in file order, by the trial's concepts it holds; the blank outcomes with
# None at those (copied per patient) and the blank's list they were made from.
_Own = tuple[tuple[int, ...], list[CriterionOutcome | None], list[CriterionOutcome | None]]
_MAX_OWNS = 256  # kept per trial, cleared when full


@dataclass(frozen=True, slots=True)
class CompiledTrial:
    trial: ast.Trial
    _plan: _Plan
    _source: Source = field(compare=False, repr=False)
    # per (day, gaps): the blank evaluation and its outcomes
    _blanks: dict[tuple[dt.date, Hashable], tuple[Evaluation, list[CriterionOutcome | None]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # worked out once from the plan: concept -> the criteria reading it; the criteria reading the patient otherwise
    # by the trial's concepts a patient holds (`start_indexed`)
    _owns: dict[frozenset[str], _Own] = field(default_factory=dict, compare=False, repr=False)
    _readers: dict[str, frozenset[int]] = field(init=False, compare=False, repr=False)  # sets: `union` merges them
    _read: frozenset[str] = field(init=False, compare=False, repr=False)  # `_readers`' keys, to meet a frozenset
    _personal: frozenset[int] = field(init=False, compare=False, repr=False)
    _rules: tuple[CriterionRule, ...] = field(init=False, compare=False, repr=False)  # the plan's, for `Evaluation`

    def __post_init__(self) -> None:
        readers: dict[str, list[int]] = {}
        for i, (_, _, reads) in enumerate(self._plan):
            for concept in reads or ():
                readers.setdefault(concept, []).append(i)
        object.__setattr__(self, "_readers", {c: frozenset(found) for c, found in readers.items()})
        object.__setattr__(self, "_read", frozenset(readers))
        object.__setattr__(self, "_personal", frozenset(i for i, (_, _, r) in enumerate(self._plan) if r is None))
        object.__setattr__(self, "_rules", tuple(rule for _, rule, _ in self._plan))

    def start(self, data: PatientData, on: dt.date) -> Evaluation:
        """Criteria in file order, evaluated on demand (`Evaluation.outcome(i)` for `trial.criteria[i]`), every
        one by running its function: the reference `start_indexed` must agree with."""
        return Evaluation(self.trial, self._rules, self._source, Env(data, on))

    def start_indexed(self, data: IndexedPatientData, on: dt.date, answers: Answers | None = None) -> Evaluation:
        """As `start`, but criteria that read no concept the patient has records of take the outcome of a blank
        patient with the same gaps (evaluated as `start` does, every criterion at once, once per gaps and day).
        `answers`: the data reads' results (`Env.answers`), to share with the other trials' evaluations of the same
        `data` and `on` (and only those)."""
        key = (on, data.gaps())
        found = self._blanks.get(key)
        if found is None:
            if len(self._blanks) >= _MAX_BLANKS:
                self._blanks.clear()
            blank = Evaluation(self.trial, self._rules, self._source, Env(data.blank(), on))
            personal = self._personal
            outcomes = [None if i in personal else blank.outcome(i) for i in range(len(self._plan))]
            found = self._blanks[key] = (blank, outcomes)
        blank, blank_outcomes = found
        held = data.concepts_held()
        reads = self._read.intersection(held)
        own = self._owns.get(reads)  # worked out once for the patients holding the same of the trial's concepts
        if own is None or own[1] is not blank_outcomes:
            if len(self._owns) >= _MAX_OWNS:
                self._owns.clear()
            own = self._owns[reads] = self._own_of(reads, blank_outcomes)
        env = Env(data, on, held, blank.env, answers)
        return Evaluation(self.trial, self._rules, self._source, env, blank_outcomes, own[0], own[2].copy())

    def _own_of(self, reads: frozenset[str], blank: list[CriterionOutcome | None]) -> _Own:
        """The criteria reading the concepts `reads` or the patient otherwise, in file order, from the sets of the
        criteria reading each concept, in one call."""
        own = tuple(sorted(self._personal.union(*map(self._readers.__getitem__, reads))))
        pending = blank.copy()
        for i in own:
            pending[i] = None
        return own, blank, pending

    def evaluate(self, data: PatientData, on: dt.date) -> list[CriterionOutcome]:
        return self.start(data, on).all()

    @property
    def source(self) -> str:
        """The Python source the trial was compiled to (see `codegen`)."""
        return self._source.text


def compile_trial(
    checked: ast.Trial, vocabulary: Vocabulary, queries: QueryTable | None = None, *, kept: bool = False
) -> CompiledTrial:
    """Compile a trial the checker returned (its Latest calls carry their units). Trials compiled with one
    `queries` table share their query objects, so a patient's memo answers them by identity; `kept`: the compiled
    code through the cache directory (`code_cache`)."""
    source = generate(checked, vocabulary, queries or QueryTable())
    namespace = {**_RUNTIME, **source.constants}
    for code in compile_functions(source.functions, source.filename, kept=kept):
        exec(code, namespace)  # noqa: S102 (generated here)
    # tracebacks through the generated functions then show their lines
    linecache.cache[source.filename] = (len(source.text), None, source.text.splitlines(True), source.filename)
    plan = tuple(
        (c, cast(CriterionRule, namespace[name]), reads)
        for c, name, reads in zip(checked.criteria, source.criteria, source.reads, strict=True)
    )
    return CompiledTrial(checked, plan, source)
