"""The safety nets' record text and the codes of a CodeableConcept are read by plain loops (no comprehension frame
per record): each must give what the comprehensions it replaced gave, for codeables of every shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from service.facts.counting import codes_of
from service.facts.index import _text

_value = st.one_of(st.none(), st.sampled_from(["", " ", "Lupus", "SLE | x", "0"]), st.integers(-1, 2), st.booleans())
_coding = st.one_of(
    st.fixed_dictionaries({}, optional={"system": _value, "code": _value, "display": _value}),
    _value,
    st.lists(_value, max_size=2),
)
_codeable = st.one_of(
    st.fixed_dictionaries({}, optional={"text": _value, "coding": st.one_of(st.lists(_coding, max_size=3), _value)}),
    _value,
)


def _text_by_comprehension(*codeable: object) -> str:
    parts: list[str] = []
    for concept in codeable:
        if isinstance(concept, Mapping):
            parts.append(str(concept.get("text") or ""))
            parts += [str(c.get("display") or "") for c in concept.get("coding") or () if isinstance(c, Mapping)]
    return " | ".join([p for p in parts if p])


def _codes_by_comprehension(concept: object) -> list[str]:
    if not isinstance(concept, Mapping):
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    return [c["code"].strip().lower() for c in codings if isinstance(c, Mapping) and isinstance(c.get("code"), str)]


def _outcome(read: Callable[..., object], *arguments: object) -> object:
    """The answer, or the type of error raised (a coding list that is not a list fails both ways alike)."""
    try:
        return read(*arguments)
    except TypeError as error:
        return type(error)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.lists(_codeable, max_size=3))
def test_record_text_is_the_comprehensions(codeables: list[object]) -> None:
    assert _outcome(_text, *codeables) == _outcome(_text_by_comprehension, *codeables)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(_codeable)
def test_codes_are_the_comprehensions(codeable: object) -> None:
    assert _outcome(codes_of, codeable) == _outcome(_codes_by_comprehension, codeable)
