"""Polarity of a result: positive, negative, or None when the record does not say (then it counts as neither)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from service.criteria.inputs import Polarity
from service.facts.measurements import TITER_TEXT, finite_number, read_titer

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
    "undetected": NEG,
    "absent": NEG,
}
_SPACES = re.compile(r"\s+")

# (value, from_unit, to_unit) -> converted value or None
Converter = Callable[[float, str, str], float | None]
# (system, code) of a coded result value -> its polarity (mappings: analytes.yaml `qualitative`)
CodedResult = Callable[[str, str], Polarity | None]


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


def _reference_high(holder: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ranges = holder.get("referenceRange")
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], Mapping):
        return None
    return ranges[0]


def _titer_polarity(comparator: str | None, dilution: float, holder: Mapping[str, Any]) -> Polarity | None:
    """A titer 1:N against the reference range: high 1:H (or high.value H) → positive above H;
    text "<1:H" → positive at H or above. Without a reference range a titer decides nothing."""
    reference = _reference_high(holder)
    if reference is None:
        return None
    high = reference.get("high")
    if isinstance(high, Mapping) and (limit := finite_number(high.get("value"))) is not None:
        return _above_high(dilution, comparator, limit)
    text = reference.get("text")
    if isinstance(text, str) and (match := TITER_TEXT.match(text)) and match.group(1) in ("<",):
        return _above_high(dilution, comparator, float(match.group(2)), inclusive=True)
    return None


def _quantity_polarity(quantity: Mapping[str, Any], holder: Mapping[str, Any], convert: Converter) -> Polarity | None:
    value = finite_number(quantity.get("value"))
    reference = _reference_high(holder)
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


def polarity(holder: Mapping[str, Any], coded: CodedResult, convert: Converter) -> Polarity | None:
    """Polarity of an Observation (or one of its components).

    Order: coded value, boolean, string value (words or titer), interpretation, quantity against
    referenceRange.high. Anything that cannot be read as positive or negative gives None.
    """
    if "valueCodeableConcept" in holder:
        found = _coded(holder["valueCodeableConcept"], coded)
        if found is not None:
            return found
    elif isinstance(holder.get("valueBoolean"), bool):
        return POS if holder["valueBoolean"] else NEG
    elif isinstance(holder.get("valueString"), str):
        text = _SPACES.sub(" ", holder["valueString"].strip().lower())
        if text in STRINGS:
            return STRINGS[text]
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
    if isinstance(quantity, Mapping):
        return _quantity_polarity(quantity, holder, convert)
    return None
