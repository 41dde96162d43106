"""Text → AST: the LALR parser is built once; lark's errors become TrialSyntaxError with a position.

Parsing the five bundled trials takes lark ~0.07 s of every start; the trees of the trial files are kept
(pickled) in the cache directory, keyed by the text, the file name, lark's version and this package's sources and
grammar, so a start that finds them skips lark. A missing, stale or unreadable entry is parsed again; a file with
errors is never kept.
"""

from __future__ import annotations

import hashlib
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from service.cache_dir import through_cache
from service.criteria import ast
from service.criteria.errors import Diagnostic, Span, TrialSyntaxError, caret_context
from service.criteria.inputs import RecordKind

_TIME_UNITS = {
    "year": ast.TimeUnit.YEAR,
    "month": ast.TimeUnit.MONTH,
    "week": ast.TimeUnit.WEEK,
    "day": ast.TimeUnit.DAY,
    "hour": ast.TimeUnit.HOUR,
}

# What a person calls the tokens lark expects, for "expected ..." messages.
_TOKEN_NAMES = {
    "STRING": "a quoted string",
    "NAME": "a name",
    "NUMBER": "a number",
    "COLON": '":"',
    "LSQB": '"["',
    "RSQB": '"]"',
    "LPAR": '"("',
    "RPAR": '")"',
    "COMMA": '","',
    "RESOURCE": "a resource type (Condition, Observation, Medication, Procedure, Immunization)",
    "TIME_UNIT": "a time unit (years, months, weeks, days, hours)",
    "COMPARATOR": "a comparison",
    "CRITERION_KIND": '"inclusion" or "exclusion"',
    "UNIT": "a quoted UCUM unit",
}


@cache
def _parser() -> Lark:
    return Lark.open(
        "grammar.lark",
        rel_to=__file__,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # the LALR tables, in the temp directory, keyed by grammar and lark version
    )


def _span(meta: Meta | Token) -> Span:
    if isinstance(meta, Token):
        return Span(meta.line or 0, meta.column or 0, meta.end_line or 0, meta.end_column or 0)
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _text(token: Token) -> str:
    return str(token)[1:-1]


def _duration(amount: Token, unit: Token) -> ast.Duration:
    return ast.Duration(float(amount), _TIME_UNITS[str(unit).rstrip("s")])


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """One method per grammar alias; nodes only, no evaluation here."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    # ---- trial structure ----
    def start(self, meta: Meta, children: list[Any]) -> ast.Trial:
        header, *statements = children
        defines: list[ast.Define] = []
        cohorts: list[ast.Cohort] = []
        criteria: list[ast.Criterion] = []
        current: str | None = None
        for statement in statements:
            if isinstance(statement, ast.Define):
                defines.append(statement)
            elif isinstance(statement, ast.Cohort):
                cohorts.append(statement)
                current = statement.id
            elif statement == "common":
                current = None
            else:
                kind, cid, text, expr, span = statement
                criteria.append(ast.Criterion(cid, kind, text, current, expr, span))
        return ast.Trial(
            id=header["id"],
            title=header.get("title", header["id"]),
            short=header.get("short", header["id"]),
            registry=header.get("registry"),
            source=header.get("source"),
            defines=tuple(defines),
            cohorts=tuple(cohorts),
            criteria=tuple(criteria),
            file=self.file,
            span=_span(meta),
        )

    def header(self, meta: Meta, children: list[Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": _text(children[0])}
        for key, value in children[1:]:
            fields[key] = value
        return fields

    def title(self, meta: Meta, children: list[Token]) -> tuple[str, str]:
        return ("title", _text(children[0]))

    def registry(self, meta: Meta, children: list[Token]) -> tuple[str, str]:
        return ("registry", _text(children[0]))

    def source(self, meta: Meta, children: list[Token]) -> tuple[str, str]:
        return ("source", _text(children[0]))

    def short(self, meta: Meta, children: list[Token]) -> tuple[str, str]:
        return ("short", _text(children[0]))

    def define(self, meta: Meta, children: list[Any]) -> ast.Define:
        return ast.Define(str(children[0]), children[1], _span(meta))

    def cohort(self, meta: Meta, children: list[Token]) -> ast.Cohort:
        return ast.Cohort(_text(children[0]), _text(children[1]), _span(meta))

    def common(self, meta: Meta, children: list[Any]) -> str:
        return "common"

    def criterion(self, meta: Meta, children: list[Any]) -> tuple[Any, ...]:
        kind, cid, text, body = children
        expr = None if body == "manual" else body
        return (ast.CriterionKind(str(kind)), _text(cid), _text(text), expr, _span(meta))

    def manual(self, meta: Meta, children: list[Any]) -> str:
        return "manual"

    # ---- expressions ----
    def or_(self, meta: Meta, children: list[Any]) -> ast.Or:
        return ast.Or(children[0], children[1], _span(meta))

    def and_(self, meta: Meta, children: list[Any]) -> ast.And:
        return ast.And(children[0], children[1], _span(meta))

    def not_(self, meta: Meta, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], _span(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        return ast.Compare(str(children[1]), children[0], children[2], _span(meta))

    def between(self, meta: Meta, children: list[Any]) -> ast.Between:
        return ast.Between(children[0], children[1], children[2], _span(meta))

    def _arithmetic(self, op: str, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        return ast.Arithmetic(op, children[0], children[1], _span(meta))

    def add(self, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        return self._arithmetic("+", meta, children)

    def sub(self, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        return self._arithmetic("-", meta, children)

    def mul(self, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        return self._arithmetic("*", meta, children)

    def div(self, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        return self._arithmetic("/", meta, children)

    def number(self, meta: Meta, children: list[Token]) -> ast.Number:
        return ast.Number(float(children[0]), _span(meta))

    def quantity(self, meta: Meta, children: list[Token]) -> ast.Quantity:
        return ast.Quantity(float(children[0]), _text(children[1]), _span(meta))

    def duration(self, meta: Meta, children: list[Token]) -> ast.DurationLiteral:
        return ast.DurationLiteral(_duration(children[0], children[1]), _span(meta))

    def uln(self, meta: Meta, children: list[Token]) -> ast.UlnMultiple:
        return ast.UlnMultiple(float(children[0]), _span(meta))

    def unknown(self, meta: Meta, children: list[Token]) -> ast.UnknownLiteral:
        return ast.UnknownLiteral(_text(children[0]), _span(meta))

    def exists(self, meta: Meta, children: list[Any]) -> ast.Exists:
        return ast.Exists(children[0], _span(meta))

    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        name, *args = children
        return ast.Call(str(name), tuple(a for a in args if a is not None), _span(meta))

    def ref(self, meta: Meta, children: list[Token]) -> ast.Ref:
        return ast.Ref(str(children[0]), _span(meta))

    def retrieve(self, meta: Meta, children: list[Any]) -> ast.Retrieve:
        resource = RecordKind(str(children[0]))
        concept_tokens = [c for c in children[1:] if isinstance(c, Token)]
        modifiers = [m for m in children[1:] if not isinstance(m, Token)]
        fields: dict[str, Any] = {
            "active": False,
            "polarity": None,
            "within": None,
            "at_least_ago": None,
            "within_half_lives": None,
        }
        for key, value in modifiers:
            fields[key] = value
        return ast.Retrieve(
            resource=resource,
            concepts=tuple(_text(c) for c in concept_tokens),
            span=_span(meta),
            concept_spans=tuple(_span(c) for c in concept_tokens),
            **fields,
        )

    def active(self, meta: Meta, children: list[Any]) -> tuple[str, bool]:
        return ("active", True)

    def positive(self, meta: Meta, children: list[Any]) -> tuple[str, str]:
        return ("polarity", "positive")

    def negative(self, meta: Meta, children: list[Any]) -> tuple[str, str]:
        return ("polarity", "negative")

    def within(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Duration]:
        return ("within", _duration(children[0], children[1]))

    def within_half_lives(self, meta: Meta, children: list[Token]) -> tuple[str, float]:
        return ("within_half_lives", float(children[0]))

    def at_least_ago(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Duration]:
        return ("at_least_ago", _duration(children[0], children[1]))


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(e, e.strip('"').lower() if e.isupper() else e) for e in expected})
    if len(names) > 6:
        names = [*names[:6], "…"]
    return ", ".join(names)


def _syntax_diagnostic(error: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line, column = error.line, error.column
    if isinstance(error, UnexpectedToken):
        token = error.token
        found = "end of file" if token.type == "$END" else repr(str(token))
        message = f"unexpected {found}; expected {_describe_expected(set(error.accepts or error.expected))}"
    elif isinstance(error, UnexpectedCharacters):
        message = f"unexpected character {text[error.pos_in_stream or 0]!r}"
    elif isinstance(error, UnexpectedEOF):
        message = f"unexpected end of file; expected {_describe_expected(set(error.expected))}"
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    else:  # pragma: no cover - lark has no other UnexpectedInput kinds
        message = str(error)
    if line < 1:
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    return Diagnostic(file, line, column, message, caret_context(text, line, column))


def parse_trial(text: str, file: str = "<trial>", *, kept: bool = False) -> ast.Trial:
    """Parse one trial definition; raises TrialSyntaxError with file:line:col and a caret line. `kept`: through
    the cache directory, for the trial files loaded at every start (not for the many texts of tests)."""
    if not kept:
        return _parse(text, file)
    return through_cache(
        lambda: f"trial-ast-{_cache_key(text, file)}.pickle",
        _unpickled_trial,
        lambda: _parse(text, file),
        lambda trial: pickle.dumps(trial, protocol=pickle.HIGHEST_PROTOCOL),
    )


def _unpickled_trial(data: bytes) -> ast.Trial | None:
    found = pickle.loads(data)  # noqa: S301 - our own cache directory (service/cache_dir.py)
    return found if isinstance(found, ast.Trial) else None


def _cache_key(text: str, file: str) -> str:
    return hashlib.sha256(f"{_code_digest()}\0{file}\0{text}".encode()).hexdigest()


@cache
def _code_digest() -> str:
    """What the trees depend on besides the text: lark, the grammar and every module of this package (the AST
    classes, the positions, the kinds of record)."""
    digest = hashlib.sha256(lark.__version__.encode())
    here = Path(__file__).parent
    for source in sorted([*here.glob("*.py"), *here.glob("*.lark")]):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _parse(text: str, file: str) -> ast.Trial:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise TrialSyntaxError([_syntax_diagnostic(exc, text, file)]) from exc
    try:
        trial: ast.Trial = _ToAst(file).transform(tree)
    except VisitError as exc:  # a transformer failure is a bug guard, still reported with position
        meta = getattr(exc.obj, "meta", None)
        line, column = (meta.line, meta.column) if meta is not None and not meta.empty else (1, 1)
        raise TrialSyntaxError(
            [Diagnostic(file, line, column, f"cannot read: {exc.orig_exc}", caret_context(text, line, column))]
        ) from exc
    return trial
