"""A checked trial → Python source, one function per criterion, definition and blank-answerable part.

Template engines turn a template into Python source once and `compile()` it; this does the same for a trial, so
that evaluating a criterion runs one function whose And/Or/Not/Compare tree is inlined as local variables (each
node's truth, evidence and missing texts), where a walk of closures paid a call, a tuple and a merge per node.
The data reads and a few helpers stay calls, to the evaluator's runtime (`_exists`, `_latest`, `_blank_part`, ...).
For a newcomer, `CompiledTrial.source` shows what a trial became (`tests/unit/criteria/test_codegen.py`); the criterion
`Lupus and Latest([Observation: "anc"]) < 1 '10*9/L'`, with `define Lupus: exists [Condition: "lupus"]`, becomes

    def define_0(env):
        t1, e1, m1 = _exists(env, Q1, 'Lupus', '')          # a data read: alone on its line, to locate errors
        return t1, e1, m1

    def part_0(env):                                        # a side of the And the blank patient may answer
        o1 = env.defines.get('Lupus')                       # a definition: computed once per evaluation
        if o1 is None:
            o1 = env.defines['Lupus'] = define_0(env)
        t1, e1, m1 = o1
        return t1, e1, m1

    def part_1(env):
        l1, h1, e1, m1 = env.answers.get(KQ2) or _latest(env, Q2)  # a read the patient's memo may answer
        if l1 is None or h1 is None:                        # a comparison of intervals, inlined
            t2 = UNKNOWN
            m2 = m1
        else:
            t2 = MET if (h1 < 1.0 and not _same(h1, 1.0)) else NOT_MET if not (l1 < ...) else UNKNOWN
            m2 = m1 if t2 is UNKNOWN else ()
        return t2, e1, m2

    def criterion_0(env):
        if env.held is None or 'lupus' in env.held:         # part_0 written out, not called (a call per part
            o2 = env.defines.get('Lupus')                   # and patient saved) ...
            if o2 is None:
                o2 = env.defines['Lupus'] = define_0(env)
            t2, e2, m2 = o2
            t1, e1, m1 = t2, e2, m2
        else:                                               # ... or the blank patient's answer when no lupus record
            t1, e1, m1 = env.blank.defines.get(0) or _blank_part(env, part_0, 0)
        if env.held is None or 'anc' in env.held:
            ...                                             # part_1 written out
            t3, e3, m3 = t5, e4, m5
        else:
            t3, e3, m3 = env.blank.defines.get(1) or _blank_part(env, part_1, 1)
        t6 = NOT_MET if t1 is NOT_MET or t3 is NOT_MET else UNKNOWN if t1 is UNKNOWN or t3 is UNKNOWN else MET
        if t1 is not t6:                                    # explained by the sides that agree with t6
            e6, m6 = e3, m3 if t6 is UNKNOWN else ()
        elif t3 is not t6:
            e6, m6 = e1, m1 if t6 is UNKNOWN else ()
        else:
            e6, m6 = _merge_pair(e1, e3), _merge_pair(m1, m3) if t6 is UNKNOWN else ()
        if t6 is UNKNOWN and not m6:                        # an outcome: what it is about, what would decide it
            return _new_outcome(CriterionOutcome, (C0, 'unknown', e6, D4))
        return _new_outcome(CriterionOutcome, (C0, t6._value_, e6, m6))

Semantics: three-valued truth; an And/Or explained by the side that decides it, or by both (evidence and missing
texts concatenated without duplicates) when both agree with it, missing texts only for an unknown result; a
comparison unknown when a side is missing or the intervals overlap. An error is located by the line the innermost
generated function was at (`Source.spans`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import NamedTuple, TypeVar

from service.criteria import ast
from service.criteria.checker import FUNCTIONS
from service.criteria.errors import Span
from service.criteria.inputs import EventQuery, EventStatus, MeasurementQuery, Polarity, Window
from service.criteria.vocabulary import Vocabulary

Q = TypeVar("Q", EventQuery, MeasurementQuery, tuple[tuple[EventQuery, str], ...])


class QueryTable:
    """One instance per distinct query (and exposure's drug groups) among the trials compiled with one table: the
    per-patient memos then find a trial's query by identity instead of comparing it field by field. Owned by
    whoever loads the trials."""

    __slots__ = ("_queries",)

    def __init__(self) -> None:
        self._queries: dict[object, object] = {}

    def intern(self, query: Q) -> Q:
        found: Q = self._queries.setdefault(query, query)  # type: ignore[assignment]
        return found


@dataclass(frozen=True, slots=True)
class Source:
    """A trial's generated module: its text, each function's first line and text, the objects it names (queries,
    concept sets), the function of each criterion and what it reads, and the source span of the data
    read on each line, to locate errors."""

    text: str
    functions: tuple[tuple[int, str], ...]
    filename: str
    constants: dict[str, object]
    criteria: tuple[str, ...]  # per criterion: its function (`_Generator.criterion`)
    reads: tuple[frozenset[str] | None, ...]  # per criterion: the concepts it reads (`_Generator.reads`)
    spans: dict[int, Span]


class _Truth(NamedTuple):
    """Where a generated true / false / unknown result is: Python expressions (local names or literals)."""

    t: str
    e: str
    m: str


class _Value(NamedTuple):
    """Where a generated interval is; `exact`: low and high are literals, never None."""

    low: str
    high: str
    e: str
    m: str
    exact: bool = False


_EMPTY = "()"
_PERSONAL = frozenset({"AgeInYears", "IsFemale", "IsMale"})  # read the patient's demographics, not records
_files = itertools.count()


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(expr, ast.Exists):
        return (expr.source,)
    if isinstance(expr, ast.Call):
        return expr.args
    if isinstance(expr, ast.Not):
        return (expr.operand,)
    if isinstance(expr, ast.And | ast.Or | ast.Compare | ast.Arithmetic):
        return (expr.left, expr.right)
    if isinstance(expr, ast.Between):
        return (expr.value, expr.low, expr.high)
    return ()


def _window_text(query: EventQuery) -> str:
    if query.half_lives is not None:
        return f" within {query.half_lives:g} half-lives"
    if query.window.within_days is not None:
        return f" within the last {query.window.within_days} days"
    if query.window.before_days is not None:
        return f" at least {query.window.before_days} days ago"
    return ""


def _merged(a: str, b: str) -> str:
    """The expression merging two tuples of evidence or missing texts (`_merge_pair`), empty ones left out and one
    merged with itself (an age compared twice) kept."""
    if b == _EMPTY or a == b:
        return a
    if a == _EMPTY:
        return b
    return f"_merge_pair({a}, {b})"


def _below(a: str, b: str) -> str:
    return f"({a} < {b} and not _same({a}, {b}))"


def _compare_truth(op: str, a_low: str, a_high: str, b_low: str, b_high: str) -> str:
    """The expression of `_compare_truth` with its operator chosen here."""
    if op == ">=":
        met, not_met = f"not {_below(a_low, b_high)}", _below(a_high, b_low)
    elif op == ">":
        met, not_met = _below(b_high, a_low), f"not {_below(b_low, a_high)}"
    elif op == "<=":
        met, not_met = f"not {_below(b_low, a_high)}", _below(b_high, a_low)
    elif op == "<":
        met, not_met = _below(a_high, b_low), f"not {_below(a_low, b_high)}"
    else:  # "=" or "!=": rare, left to the runtime
        return f"_compare_truth({op!r}, {a_low}, {a_high}, {b_low}, {b_high})"
    return f"MET if {met} else NOT_MET if {not_met} else UNKNOWN"


class _Generator:
    """Writes the functions of one trial; `rule` for true/false/unknown expressions, `value` for the others."""

    def __init__(self, trial: ast.Trial, vocabulary: Vocabulary, queries: QueryTable) -> None:
        self.vocabulary = vocabulary
        self.queries = queries
        self.define_exprs = {d.name: d.expr for d in trial.defines}
        self.defines: dict[str, tuple[str, int]] = {}  # definition name → its function, the size of its result
        self.constants: dict[str, object] = {}
        self.names: dict[int, str] = {}  # id of a constant → its name (queries are interned: one name each)
        self.functions: list[list[tuple[str, Span | None]]] = []  # finished functions, lines with their reads
        self.body: list[tuple[str, Span | None]] = []
        self.indent = 1
        self.locals = itertools.count(1)
        self.parts = itertools.count()
        self.part_functions: dict[int, int] = {}  # by the id of an expression node: its part's number
        self.define_numbers = itertools.count()
        self.read_sets: dict[int, frozenset[str] | None] = {}  # by the id of an expression node of the trial

    # -- writing --
    def emit(self, line: str, span: Span | None = None) -> None:
        self.body.append(("    " * self.indent + line, span))

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.emit(header)
        self.indent += 1
        yield
        self.indent -= 1

    def function(self, name: str, write: Callable[[], _Truth | _Value]) -> int:
        """A module-level function `name(env)` returning what `write` generates as a plain tuple, of that size."""
        outer = self.body, self.indent, self.locals
        self.body, self.indent, self.locals = [(f"def {name}(env):", None)], 1, itertools.count(1)
        result = write()
        fields = (result.t, result.e, result.m) if isinstance(result, _Truth) else result[:4]
        self.emit(f"return {', '.join(fields)}")
        self.functions.append(self.body)
        self.body, self.indent, self.locals = outer
        return len(fields)

    def criterion(self, name: str, criterion: ast.Criterion) -> None:
        """A criterion's function `name(env)`, returning its whole outcome (the runtime's `CriterionOutcome`, made as
        a plain tuple): evaluating a criterion is then one call. An unknown result that names no missing data says
        which criterion is undecided; a manual criterion reads nothing."""
        outer = self.body, self.indent, self.locals
        self.body, self.indent, self.locals = [(f"def {name}(env):", None)], 1, itertools.count(1)
        line = self.constant("C", criterion)
        if criterion.expr is None:
            self.emit(f"return _new_outcome(CriterionOutcome, ({line}, 'manual', (), ()))")
        else:
            t, e, m = self.rule(criterion.expr)
            undecided = self.constant("D", (f"Data to decide: {criterion.text}",))
            with self.block(f"if {t} is UNKNOWN and not {m}:"):
                self.emit(f"return _new_outcome(CriterionOutcome, ({line}, 'unknown', {e}, {undecided}))")
            self.emit(f"return _new_outcome(CriterionOutcome, ({line}, {t}._value_, {e}, {m}))")
        self.functions.append(self.body)
        self.body, self.indent, self.locals = outer

    def constant(self, prefix: str, value: object) -> str:
        name = self.names.get(id(value))
        if name is None:
            name = self.names[id(value)] = f"{prefix}{len(self.constants)}"
            self.constants[name] = value
        return name

    def number(self, value: float) -> _Value:
        text = repr(value) if math.isfinite(value) else self.constant("N", value)
        return _Value(text, text, _EMPTY, _EMPTY, exact=True)

    def label(self, concepts: tuple[str, ...]) -> str:
        return " or ".join(self.vocabulary.label(c) for c in concepts)

    def query(self, node: ast.Retrieve) -> EventQuery:
        window = Window(
            within_days=round(node.within.days) if node.within else None,
            before_days=round(node.at_least_ago.days) if node.at_least_ago else None,
        )
        polarity = Polarity(node.polarity) if node.polarity else None
        status = EventStatus.ACTIVE if node.active else EventStatus.ANY
        query = EventQuery(node.resource, frozenset(node.concepts), window, status, polarity, node.within_half_lives)
        return self.queries.intern(query)

    # -- expressions --
    def rule(self, expr: ast.Expr) -> _Truth:
        if isinstance(expr, ast.UnknownLiteral):
            return _Truth("UNKNOWN", _EMPTY, repr((expr.missing,)))
        if isinstance(expr, ast.Ref):
            return _Truth(*self.defined(expr.name, lambda: self.rule(self.define_exprs[expr.name]))[:3])
        if isinstance(expr, ast.Exists):
            what = self.label(expr.source.concepts)
            if expr.source.polarity:
                what = f"{expr.source.polarity} {what} result"
            query = self.query(expr.source)
            window = _window_text(query)
            return self.read_truth(f"_exists(env, {self.constant('Q', query)}, {what!r}, {window!r})", expr)
        if isinstance(expr, ast.Call):
            return self.read_truth(self.boolean_call(expr), expr)
        if isinstance(expr, ast.Not):
            inner = self.rule(expr.operand)
            n = next(self.locals)
            self.emit(f"t{n} = NOT_MET if {inner.t} is MET else MET if {inner.t} is NOT_MET else UNKNOWN")
            return _Truth(f"t{n}", inner.e, inner.m)
        if isinstance(expr, ast.And | ast.Or):
            left, right = self.part(expr.left, expr), self.part(expr.right, expr)
            return self.combine(isinstance(expr, ast.And), left, right)
        if isinstance(expr, ast.Compare):
            left_value = self.value(expr.left)
            return self.compare(expr.op, left_value, self.value(expr.right))
        if isinstance(expr, ast.Between):
            value, low = self.value(expr.value), self.value(expr.low)
            high = self.value(expr.high)
            return self.combine(True, self.compare(">=", value, low), self.compare("<=", value, high))
        raise AssertionError(f"not a true/false expression: {expr!r}")  # pragma: no cover

    def value(self, expr: ast.Expr) -> _Value:
        if isinstance(expr, ast.Number | ast.Quantity):
            return self.number(expr.value)
        if isinstance(expr, ast.DurationLiteral):
            return self.number(expr.duration.days)
        if isinstance(expr, ast.UlnMultiple):
            return self.number(expr.factor)
        if isinstance(expr, ast.Ref):
            found = self.defined(expr.name, lambda: self.value(self.define_exprs[expr.name]))
            return _Value(found[0], found[1], found[2], found[3])
        if isinstance(expr, ast.Call):
            n = next(self.locals)
            self.emit(f"l{n}, h{n}, e{n}, m{n} = {self.value_call(expr)}", expr.span)
            return _Value(f"l{n}", f"h{n}", f"e{n}", f"m{n}")
        if isinstance(expr, ast.Arithmetic):
            left, right = self.value(expr.left), self.value(expr.right)
            n = next(self.locals)
            operands = f"({', '.join(left[:4])}), ({', '.join(right[:4])})"
            self.emit(f"l{n}, h{n}, e{n}, m{n} = _arithmetic({expr.op!r}, {operands})")
            return _Value(f"l{n}", f"h{n}", f"e{n}", f"m{n}")
        raise AssertionError(f"not a value: {expr!r}")  # pragma: no cover

    def read_truth(self, call: str, expr: ast.Expr) -> _Truth:
        n = next(self.locals)
        self.emit(f"t{n}, e{n}, m{n} = {call}", expr.span)
        return _Truth(f"t{n}", f"e{n}", f"m{n}")

    def defined(self, name: str, write: Callable[[], _Truth | _Value]) -> tuple[str, ...]:
        """A definition's result, computed once per evaluation however many criteria refer to it."""
        found = self.defines.get(name)
        if found is None:
            function = f"define_{next(self.define_numbers)}"
            found = self.defines[name] = (function, self.function(function, write))
        function, arity = found
        n = next(self.locals)
        self.emit(f"o{n} = env.defines.get({name!r})")
        with self.block(f"if o{n} is None:"):
            self.emit(f"o{n} = env.defines[{name!r}] = {function}(env)")
        names = (f"t{n}", f"e{n}", f"m{n}") if arity == 3 else (f"l{n}", f"h{n}", f"e{n}", f"m{n}")
        self.emit(f"{', '.join(names)} = o{n}")
        return names

    def reads(self, expr: ast.Expr) -> frozenset[str] | None:
        """The concepts an expression reads, through definitions; None when it also reads the patient otherwise
        (demographics, a derived estimate): a record-free answer then cannot stand for the patient's."""
        key = id(expr)
        if key not in self.read_sets:
            self.read_sets[key] = self.read_set(expr)
        return self.read_sets[key]

    def read_set(self, expr: ast.Expr) -> frozenset[str] | None:
        if isinstance(expr, ast.Retrieve):
            return frozenset(expr.concepts)
        if isinstance(expr, ast.Ref):
            return self.reads(self.define_exprs[expr.name])
        if isinstance(expr, ast.Call) and (expr.function in _PERSONAL or FUNCTIONS[expr.function].derived is not None):
            return None
        concepts: frozenset[str] = frozenset()
        for child in _children(expr):
            found = self.reads(child)
            if found is None:
                return None
            concepts |= found
        return concepts

    def part(self, expr: ast.Expr, whole: ast.Expr) -> _Truth:
        """`expr`, answered by the blank patient (by its function `part_N`) when the patient holds none of the
        concepts it reads, else written out in place (not called: ~100 calls per patient saved); only written out
        when that test could never skip it (it reads no concept, or all that `whole`, the expression around it,
        reads: then `whole` is asked only when one is held)."""
        concepts = self.reads(expr)
        if not concepts or concepts == self.reads(whole):
            return self.rule(expr)
        key = self.part_functions.get(id(expr))
        if key is None:  # its function, for the blank patient: once, though a part inside it is written out twice
            key = self.part_functions[id(expr)] = next(self.parts)
            self.function(f"part_{key}", lambda: self.rule(expr))
        function = f"part_{key}"
        n = next(self.locals)
        # the test inline, the blank's answer (kept in its `defines` by the part's number) through the runtime; one
        # concept (most parts) tested by `in`, not a method call on a set of one
        if len(concepts) == 1:
            (concept,) = concepts
            held = f"{concept!r} in env.held"
        else:
            held = f"not env.held.isdisjoint({self.constant('R', concepts)})"
        with self.block(f"if env.held is None or {held}:"):  # the part written out here, not called
            inline = self.rule(expr)
            self.emit(f"t{n}, e{n}, m{n} = {inline.t}, {inline.e}, {inline.m}")
        with self.block("else:"):
            self.emit(f"t{n}, e{n}, m{n} = env.blank.defines.get({key}) or _blank_part(env, {function}, {key})")
        return _Truth(f"t{n}", f"e{n}", f"m{n}")

    def combine(self, conjunction: bool, a: _Truth, b: _Truth) -> _Truth:
        """And / Or (Kleene), explained by the sides that agree with the result (one always does): their evidence
        and missing texts, merged when both agree; missing texts only when it is unknown. Written out, not a call
        of the runtime: an And/Or is the commonest node (~90 per patient)."""
        n = next(self.locals)
        t = f"t{n}"
        first, last = ("NOT_MET", "MET") if conjunction else ("MET", "NOT_MET")
        if (a.t == "UNKNOWN") != (b.t == "UNKNOWN"):
            return self.combine_unknown(n, first, a, b)
        self.emit(
            f"{t} = {first} if {a.t} is {first} or {b.t} is {first} else "
            f"UNKNOWN if {a.t} is UNKNOWN or {b.t} is UNKNOWN else {last}"
        )
        with self.block(f"if {a.t} is not {t}:"):
            self.emit(f"e{n}, m{n} = {b.e}, {self.when_unknown(t, b.m)}")
        with self.block(f"elif {b.t} is not {t}:"):
            self.emit(f"e{n}, m{n} = {a.e}, {self.when_unknown(t, a.m)}")
        with self.block("else:"):
            self.emit(f"e{n}, m{n} = {_merged(a.e, b.e)}, {self.when_unknown(t, _merged(a.m, b.m))}")
        return _Truth(t, f"e{n}", f"m{n}")

    def combine_unknown(self, n: int, first: str, a: _Truth, b: _Truth) -> _Truth:
        """And / Or with one side known to be unknown (`x or unknown("why")`, common in the trials), as `combine`
        explains it, written out: the other side decides it (`first`: NOT_MET for And, MET for Or) or leaves it
        unknown, with the missing texts of both sides when it is unknown too."""
        side = b if a.t == "UNKNOWN" else a
        with self.block(f"if {side.t} is {first}:"):
            self.emit(f"t{n}, e{n}, m{n} = {first}, {side.e}, ()")
        with self.block(f"elif {side.t} is UNKNOWN:"):
            self.emit(f"t{n}, e{n}, m{n} = UNKNOWN, {_merged(a.e, b.e)}, {_merged(a.m, b.m)}")
        with self.block("else:"):
            unknown = a if side is b else b
            self.emit(f"t{n}, e{n}, m{n} = UNKNOWN, {unknown.e}, {unknown.m}")
        return _Truth(f"t{n}", f"e{n}", f"m{n}")

    @staticmethod
    def when_unknown(t: str, missing: str) -> str:
        return _EMPTY if missing == _EMPTY else f"{missing} if {t} is UNKNOWN else ()"

    def compare(self, op: str, a: _Value, b: _Value) -> _Truth:
        """A comparison of intervals: unknown when a side is missing or the intervals overlap."""
        n = next(self.locals)
        t, evidence, missing = f"t{n}", _merged(a.e, b.e), _merged(a.m, b.m)
        truth = _compare_truth(op, a.low, a.high, b.low, b.high)
        absent = [f"{bound} is None" for side in (a, b) if not side.exact for bound in (side.low, side.high)]
        if absent:
            with self.block(f"if {' or '.join(absent)}:"):
                self.emit(f"{t} = UNKNOWN")
                self.emit(f"m{n} = {missing}")
            with self.block("else:"):
                self.emit(f"{t} = {truth}")
                self.emit(f"m{n} = {self.when_unknown(t, missing)}")
        else:
            self.emit(f"{t} = {truth}")
            self.emit(f"m{n} = {self.when_unknown(t, missing)}")
        if evidence not in (a.e, b.e):
            self.emit(f"e{n} = {evidence}")
            evidence = f"e{n}"
        return _Truth(t, evidence, f"m{n}")

    # -- data reads: calls of the evaluator's runtime, one per line --
    def boolean_call(self, node: ast.Call) -> str:
        name = node.function
        if name == "Positive":
            retrieve = node.args[0]
            assert isinstance(retrieve, ast.Retrieve)
            base = self.query(retrieve)
            positives = self.constant("Q", self.queries.intern(replace(base, polarity=Polarity.POSITIVE)))
            negatives = self.constant("Q", self.queries.intern(replace(base, polarity=Polarity.NEGATIVE)))
            wanted = f"{self.label(retrieve.concepts)} result{_window_text(base)}"
            return f"_positive(env, {positives}, {negatives}, {wanted!r})"
        if name in ("IsFemale", "IsMale"):
            return f"_is_sex(env, {'female' if name == 'IsFemale' else 'male'!r})"
        raise AssertionError(f"unchecked function {name}")  # pragma: no cover

    def value_call(self, node: ast.Call) -> str:
        name = node.function
        if name == "AgeInYears":
            return "_age(env)"
        if name == "Today":
            return "_today(env)"
        derived = FUNCTIONS[name].derived
        if derived is not None:
            return f"_derived(env, {derived!r})"
        retrieve = node.args[0]
        assert isinstance(retrieve, ast.Retrieve)
        base = self.query(retrieve)
        if name in ("Latest", "Highest"):
            if node.unit is None:  # a Latest that is never compared is reported by the checker
                raise AssertionError(f"Latest at {node.span} has no unit")
            query = MeasurementQuery(frozenset(retrieve.concepts), node.unit, base.window, name == "Highest")
            return self.answered("_latest", self.queries.intern(query), "Q")
        if name in ("Count", "Earliest", "MostRecent"):
            what = self.label(retrieve.concepts)
            return f"_over_records(env, {self.constant('Q', base)}, {name!r}, {what!r}, {_window_text(base)!r})"
        if name in ("Exposure", "LongestExposure"):
            groups: tuple[tuple[EventQuery, str], ...]
            if name == "Exposure":
                groups = ((base, self.label(retrieve.concepts)),)
            else:
                groups = tuple(
                    (self.queries.intern(replace(base, concepts=frozenset({c}), polarity=None)), self.label((c,)))
                    for c in retrieve.concepts
                )
            return self.answered("_exposure", self.queries.intern(groups), "G")
        raise AssertionError(f"unchecked function {name}")  # pragma: no cover

    def answered(self, function: str, query: object, prefix: str) -> str:
        """A data read whose answer the patient's `Env.answers` keeps by the id of its query (`_latest`, `_exposure`),
        read there first: a trial asks most of them again, or another trial did."""
        name = self.constant(prefix, query)
        key = f"K{name}"
        self.constants[key] = id(query)
        return f"env.answers.get({key}) or {function}(env, {name})"


def generate(checked: ast.Trial, vocabulary: Vocabulary, queries: QueryTable) -> Source:
    """The source of a trial the checker returned (its Latest calls carry their units)."""
    generator = _Generator(checked, vocabulary, queries)
    criteria: list[str] = []
    read_sets: list[frozenset[str] | None] = []
    for i, criterion in enumerate(checked.criteria):
        generator.criterion(f"criterion_{i}", criterion)
        criteria.append(f"criterion_{i}")
        # manual: reads nothing
        read_sets.append(frozenset() if criterion.expr is None else generator.reads(criterion.expr))
    lines: list[str] = []
    functions: list[tuple[int, str]] = []
    spans: dict[int, Span] = {}
    for function in generator.functions:
        functions.append((len(lines) + 1, "\n".join(text for text, _ in function)))
        for text, span in function:
            lines.append(text)
            if span is not None:
                spans[len(lines)] = span
        lines.append("")
    filename = f"<trial {checked.id} #{next(_files)}>"  # one per compiled trial: spans are found by file name
    return Source(
        "\n".join(lines), tuple(functions), filename, generator.constants, tuple(criteria), tuple(read_sets), spans
    )
