"""Polarity of a result, read per analyte: positive, negative, or None when a value is there but cannot be read
(then the criterion is unknown, never negative); and which results still stand on the evaluation date."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.criteria.inputs import Polarity, Window
from service.facts.index import Entry
from service.facts.measurements import TITER_TEXT, finite_number, first_reference_range, in_window, read_titer

V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V2_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v2-0078"

POS, NEG = Polarity.POSITIVE, Polarity.NEGATIVE

# Observation.interpretation (and the same codes used as a coded value).
INTERPRETATION_CODES: Mapping[str, Polarity] = {
    "POS": POS,
    "NEG": NEG,
    "DET": POS,
    "ND": NEG,
    "A": POS,
    "AA": POS,
    "H": POS,
    "HH": POS,
    "HU": POS,
    "N": NEG,
}
STRINGS: Mapping[str, Polarity] = {
    "positive": POS,
    "pos": POS,
    "reactive": POS,
    "detected": POS,
    "present": POS,
    "negative": NEG,
    "neg": NEG,
    "non-reactive": NEG,
    "nonreactive": NEG,
    "non reactive": NEG,
    "not detected": NEG,
    "target not detected": NEG,
    "undetected": NEG,
    "undetectable": NEG,
    "absent": NEG,
}
_SPACES = re.compile(r"\s+")

# (value, from_unit, to_unit) -> converted value or None
PlainConverter = Callable[[float, str, str], float | None]
# (system, code) of a coded result value -> its polarity (mappings: analytes.yaml `qualitative`)
CodedResult = Callable[[str, str], Polarity | None]


@dataclass(frozen=True, slots=True)
class Reading:
    """How one analyte's results read (analytes.yaml `positivity`)."""

    positivity: str = "reference"  # reference | detected | answer


def _coded(concept: object, coded: CodedResult) -> Polarity | None:
    if not isinstance(concept, Mapping):
        return None
    found: set[Polarity] = set()
    for coding in concept.get("coding") or ():
        if not isinstance(coding, Mapping):
            continue
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            continue
        if system in (V3_INTERPRETATION, V2_INTERPRETATION):
            polarity = INTERPRETATION_CODES.get(code.strip())
        else:
            polarity = coded(system, code.strip())
        if polarity is not None:
            found.add(polarity)
    return found.pop() if len(found) == 1 else None  # conflicting codings decide nothing


def _interpretation(holder: Mapping[str, Any], coded: CodedResult) -> Polarity | None:
    found = {p for c in holder.get("interpretation") or () if (p := _coded(c, coded)) is not None}
    return found.pop() if len(found) == 1 else None


def _unit(quantity: Mapping[str, Any]) -> str | None:
    for key in ("code", "unit"):
        value = quantity.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _above_high(value: float, comparator: str | None, high: float, inclusive: bool = False) -> Polarity | None:
    """Above the upper limit → positive; at or below → negative (`inclusive`: at the limit is positive).

    A comparator makes `value` a bound on the true value; it decides only when every value within
    the bound falls on the same side ("<50" with high 100 is negative, "<500" with high 100 is None).
    """
    if not comparator:
        return POS if (value >= high if inclusive else value > high) else NEG
    if comparator == "<":
        return NEG if value <= high else None
    if comparator == "<=":
        return NEG if (value < high if inclusive else value <= high) else None
    if comparator == ">":
        return POS if value >= high else None
    if comparator == ">=":
        return POS if (value >= high if inclusive else value > high) else None
    return None


def _titer_polarity(comparator: str | None, dilution: float, holder: Mapping[str, Any]) -> Polarity | None:
    """A titer 1:N against the reference range: high 1:H (or high.value H) → positive above H;
    text "<1:H" → positive at H or above. Without a reference range a titer decides nothing."""
    reference = first_reference_range(holder)
    if reference is None:
        return None
    high = reference.get("high")
    if isinstance(high, Mapping) and (limit := finite_number(high.get("value"))) is not None:
        return _above_high(dilution, comparator, limit)
    text = reference.get("text")
    if isinstance(text, str) and (match := TITER_TEXT.match(text)) and match.group(1) in ("<",):
        return _above_high(dilution, comparator, float(match.group(2)), inclusive=True)
    return None


def _detected(quantity: Mapping[str, Any]) -> Polarity | None:
    """A nucleic-acid quantity: any amount above zero is detected; "<N" is a quantitation limit (None)."""
    value = finite_number(quantity.get("value"))
    comparator = quantity.get("comparator")
    if value is None or value < 0:
        return None
    if comparator in (">", ">="):
        return POS if value > 0 or comparator == ">" else None
    if comparator:
        return None
    return POS if value > 0 else NEG


def _quantity_polarity(
    quantity: Mapping[str, Any], holder: Mapping[str, Any], convert: PlainConverter
) -> Polarity | None:
    value = finite_number(quantity.get("value"))
    reference = first_reference_range(holder)
    if value is None or reference is None:
        return None
    high = reference.get("high")
    if not isinstance(high, Mapping) or (limit := finite_number(high.get("value"))) is None:
        return None
    value_unit, high_unit = _unit(quantity), _unit(high)
    if high_unit is not None and value_unit is not None and high_unit != value_unit:
        converted = convert(limit, high_unit, value_unit)
        if converted is None:
            return None
        limit = converted
    comparator = quantity.get("comparator")
    return _above_high(value, comparator if isinstance(comparator, str) else None, limit)


def has_result(holder: Mapping[str, Any]) -> bool:
    """The Observation (or component) reports something: a value or an interpretation."""
    return bool(holder.get("interpretation")) or any(key.startswith("value") for key in holder)


def polarity(
    holder: Mapping[str, Any], coded: CodedResult, convert: PlainConverter, reading: Reading = Reading()
) -> Polarity | None:
    """Polarity of an Observation (or one of its components), read the way its analyte says.

    Order: coded value, boolean, string value (words or titer), interpretation, then the number: against
    referenceRange.high (reference) or above zero (detected). Anything that
    cannot be read as positive or negative gives None.
    """
    if "valueCodeableConcept" in holder:
        found = _coded(holder["valueCodeableConcept"], coded)
        if found is not None:
            return found
    elif isinstance(holder.get("valueBoolean"), bool):
        return POS if holder["valueBoolean"] else NEG
    elif isinstance(holder.get("valueString"), str):
        text = _SPACES.sub(" ", holder["valueString"].strip().lower())
        if text in STRINGS or (reading.positivity == "answer" and text in ("yes", "no")):
            return STRINGS.get(text, POS if text == "yes" else NEG)
        titer = TITER_TEXT.match(text)
        if titer is not None:
            return _titer_polarity(titer.group(1), float(titer.group(2)), holder)
    elif isinstance(holder.get("valueRatio"), Mapping):
        ratio = read_titer(holder)  # 1/N as the dilution N
        if ratio is not None and ratio.value:
            return _titer_polarity(ratio.comparator, ratio.value, holder)
        return None
    found = _interpretation(holder, coded)
    if found is not None:
        return found
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, Mapping):
        return None
    if reading.positivity == "detected":
        return _detected(quantity)
    return _quantity_polarity(quantity, holder, convert)


@dataclass(frozen=True, slots=True)
class Standing:
    """A result that answers a polarity question: `certain` False when it only makes the answer unknown."""

    entry: Entry
    polarity: Polarity | None  # None: the result cannot be read
    certain: bool
    doubt: str | None = None


def standing(
    results: Sequence[tuple[Entry, Polarity | None]],
    wanted: Polarity,
    window: Window,
    on: dt.date,
    *,
    ever: bool = False,
    lapses_days: int | None = None,
) -> list[Standing]:
    """The results of one analyte that answer "is there a `wanted` result?" on `on`.

    `results` are dated, taken on or before `on`. The window keeps a result fresh: a negative counts only inside
    it; a positive inside it is certain, older with nothing after it is unknown (never erased), older than
    `lapses_days` says nothing. The latest result decides (a later negative supersedes an earlier positive),
    except for `ever` analytes asked without a window, where any positive counts. The latest result
    unreadable, or conflicting on its day, makes a positive question unknown and a negative one unanswered.
    """
    if not results:
        return []
    ordered = sorted(results, key=_result_day)
    last_day = _result_day(ordered[-1])
    first_of_day = len(ordered) - 1  # the last day's results end the order: walk back to its first
    while first_of_day and _result_day(ordered[first_of_day - 1]) == last_day:
        first_of_day -= 1
    last = ordered[first_of_day:]
    states = {p for _, p in last}
    ever = ever and window.within_days is None
    if wanted is NEG:
        if states != {NEG} or (ever and any(p is not NEG for _, p in ordered)):
            return []
        return [Standing(e, NEG, True) for e, _ in last if in_window(e, window, on)]
    if ever:
        found = [Standing(e, POS, True) for e, p in ordered if p is POS]
        if found or states == {NEG}:
            return found
    elif states == {NEG}:
        return []
    if lapses_days is not None and last_day < on - dt.timedelta(days=lapses_days):
        return []
    if states != {POS}:
        why = (
            "results on the same day disagree"
            if states == {POS, NEG}
            else "result cannot be read as positive or negative"
        )
        return [Standing(e, p, False, why) for e, p in last]
    if in_window(last[0][0], window, on):
        return [Standing(e, POS, True) for e, _ in last]
    days = window.within_days
    return [Standing(e, POS, False, f"positive more than {days} days ago, no result since") for e, _ in last]


def _result_day(result: tuple[Entry, Polarity | None]) -> dt.date:
    start = result[0].timing.start
    assert start is not None  # callers keep dated results only
    return start[1]
