"""Latest value in the window (open world), converted to the unit asked for, with its evidence."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from service.criteria.inputs import Evidence, Measurement, Missing, Window
from service.facts.index import Entry
from service.facts.unit_text import unit_text

UCUM = "http://unitsofmeasure.org"
ULN = "ULN"
# LOINC answer list LL529-9 (ECOG performance status) → grade, for coded ECOG results.
ECOG_ANSWERS: Mapping[str, float] = {
    "LA9622-7": 0.0,
    "LA9623-5": 1.0,
    "LA9624-3": 2.0,
    "LA9625-0": 3.0,
    "LA9626-8": 4.0,
    "LA9627-6": 5.0,
}
_UNITLESS = frozenset({"", "1", "{score}"})
TITER = "{titer}"
TITER_TEXT = re.compile(r"^\s*(<=|>=|<|>)?\s*1\s*:\s*(\d+(?:\.\d+)?)\s*$")


ROOM_AIR_FIO2 = 21.0  # % inhaled oxygen of room air


@dataclass(frozen=True, slots=True)
class Analyte:
    """What measurements need to know about a concept (from the catalog)."""

    id: str
    label: str
    unit: str | None
    default_uln: float | None
    is_score: bool
    room_air_only: bool = False  # a reading on supplemental oxygen does not answer (SpO2 "non-oxygenated")


# (value, from_unit, to_unit, analyte id) -> converted value, or the reason it cannot be
AnalyteConverter = Callable[[float, str, str, str], "float | str"]


class Reading(NamedTuple):
    """A value as recorded (a named tuple: one is made per result a Latest reads)."""

    value: float
    comparator: str | None
    unit: str | None  # UCUM code; None when the value has no unit
    shown: str  # "11.2 g/dL" as recorded


@functools.lru_cache(maxsize=4096)
def fmt(value: float) -> str:
    """A number for people: up to 4 significant digits, never in exponent form. Cached: results repeat a few
    values (equal numbers, 1 and 1.0, are written alike), and formatting costs more than the lookup."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def finite_number(value: object) -> float | None:
    if type(value) is float:  # most values: the exact type first, as the union test costs more
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def quantity_unit(quantity: Mapping[str, Any]) -> str | None:
    """UCUM `code` first (when the system is UCUM or absent), else `unit` as written.

    A written unit is turned into UCUM by mappings.units through its explicit alias tables, never guessed.
    """
    code, system, unit = quantity.get("code"), quantity.get("system"), quantity.get("unit")
    if isinstance(code, str) and code.strip() and (system is None or system == UCUM):
        return code.strip()
    if isinstance(unit, str) and unit.strip():
        return unit.strip()
    return None


# A named tuple made by the tuple's own constructor (in C), for the common readings: the generated __new__ is a
# Python call, and a patient's Latest queries make a Reading and a Measurement each.
_new_tuple = tuple.__new__


def read(holder: Mapping[str, Any], analyte: Analyte) -> Reading | str | None:
    """The value of an Observation (or component): a Reading, a reason it is unusable, or None if it has none."""
    quantity = holder.get("valueQuantity")
    if type(quantity) is dict or isinstance(quantity, Mapping):  # the type first: the ABC check costs more
        value = finite_number(quantity.get("value"))
        if value is None:
            return None
        unit = quantity_unit(quantity)
        comparator = quantity.get("comparator")
        comparator = comparator.strip() if isinstance(comparator, str) and comparator.strip() else None
        written = unit_text(quantity.get("unit"), unit)
        shown = f"{comparator or ''}{fmt(value)}" + (f" {written}" if written else "")
        return _new_tuple(Reading, (value, comparator, unit, shown))  # Reading(value, comparator, unit, shown)
    if "valueInteger" in holder:
        value = finite_number(holder["valueInteger"])
        return Reading(value, None, None, fmt(value)) if value is not None else None
    if analyte.unit == TITER:
        titer = read_titer(holder)
        if titer is not None:
            return titer
    if isinstance(holder.get("valueString"), str):
        text = holder["valueString"].strip()
        if analyte.is_score:
            try:
                value = float(text)
            except ValueError:
                return f'"{text}" is not a number'
            if math.isfinite(value):
                return Reading(value, None, None, fmt(value))
        return f'"{text}" is not a number'
    if isinstance(holder.get("valueCodeableConcept"), Mapping) and analyte.is_score:
        for coding in holder["valueCodeableConcept"].get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("system") == "http://loinc.org":
                grade = ECOG_ANSWERS.get(str(coding.get("code")))
                if grade is not None:
                    return Reading(grade, None, None, fmt(grade))
        return "a coded result is not a number"
    if any(key.startswith("value") for key in holder):
        return "reported without a number (e.g. coded positive / negative): its value is needed"
    return None


def read_titer(holder: Mapping[str, Any]) -> Reading | None:
    """A titer "1:160" (valueString) or 1/160 (valueRatio) as its dilution 160, in {titer}."""
    text = holder.get("valueString")
    if isinstance(text, str) and (match := TITER_TEXT.match(text)):
        return Reading(float(match.group(2)), match.group(1), TITER, text.strip())
    ratio = holder.get("valueRatio")
    if isinstance(ratio, Mapping):
        numerator, denominator = ratio.get("numerator"), ratio.get("denominator")
        if isinstance(numerator, Mapping) and isinstance(denominator, Mapping):
            dilution = finite_number(denominator.get("value"))
            if finite_number(numerator.get("value")) == 1.0 and dilution is not None:
                comparator = numerator.get("comparator") or denominator.get("comparator")
                comparator = comparator if isinstance(comparator, str) and comparator else None
                return Reading(dilution, comparator, TITER, f"{comparator or ''}1:{fmt(dilution)}")
    return None


def _same_occasion(a: Entry, b: Entry) -> bool:
    """Two Observations of one occasion: the same resource, the same encounter, or the same effective time."""
    if a.resource is b.resource:
        return True
    encounter_a, encounter_b = a.resource.get("encounter"), b.resource.get("encounter")
    if (
        isinstance(encounter_a, Mapping)
        and isinstance(encounter_b, Mapping)
        and encounter_a.get("reference")
        and encounter_a.get("reference") == encounter_b.get("reference")
    ):
        return True
    when = a.resource.get("effectiveDateTime")
    return isinstance(when, str) and when == b.resource.get("effectiveDateTime")


def on_supplemental_oxygen(reading: Entry, oxygen: list[Entry], convert: AnalyteConverter) -> bool | None:
    """Whether `reading` was taken on supplemental oxygen, from inhaled-oxygen results of the same occasion
    (a component of the reading, or an Observation of its encounter or time): a flow above 0 L/min or a
    concentration above 21 %. None when such a result is there but cannot be read; False when none is there."""
    answers: set[bool | None] = set()
    for entry in oxygen:
        if not _same_occasion(reading, entry):
            continue
        quantity = entry.holder.get("valueQuantity")
        value = finite_number(quantity.get("value")) if isinstance(quantity, Mapping) else None
        unit = quantity_unit(quantity) if isinstance(quantity, Mapping) else None
        if value is None or unit is None:
            answers.add(None)
            continue
        percent, flow = convert(value, unit, "%", "inhaled-oxygen"), convert(value, unit, "L/min", "inhaled-oxygen")
        if not isinstance(percent, str):
            answers.add(percent > ROOM_AIR_FIO2)
        elif not isinstance(flow, str):
            answers.add(flow > 0)
        else:
            answers.add(None)
    if True in answers:
        return True
    return None if None in answers else False


def window_text(label: str, window: Window) -> str:
    within, before = window.within_days, window.before_days
    if within is not None and before is not None:
        return f"{label} from {within} to {before} days before the evaluation date"
    if within is not None:
        return f"{label} within the last {within} days"
    if before is not None:
        return f"{label} from at least {before} days before the evaluation date"
    return label


def in_window(entry: Entry, window: Window, on: dt.date) -> bool:
    """The value was taken in [on - within_days, on] (and at least before_days ago); undated never counts."""
    taken = entry.timing.start
    if taken is None or taken[0] > on:
        return False
    if window.within_days is not None and taken[0] < on - dt.timedelta(days=window.within_days):
        return False
    return window.before_days is None or taken[1] <= on - dt.timedelta(days=window.before_days)


def first_reference_range(holder: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The result's first referenceRange: the only one read (others are for other populations or contexts)."""
    ranges = holder.get("referenceRange")
    if (
        not isinstance(ranges, list)
        or not ranges
        or (type(ranges[0]) is not dict and not isinstance(ranges[0], Mapping))
    ):
        return None
    return ranges[0]


def _upper_limit_of_normal(holder: Mapping[str, Any]) -> tuple[float, str | None] | None:
    """The exact upper limit of the first reference range, with its unit (a `<`/`>` limit is not exact)."""
    reference = first_reference_range(holder)
    high = None if reference is None else reference.get("high")
    if type(high) is not dict and not isinstance(high, Mapping):
        return None
    value = finite_number(high.get("value"))
    if value is None or value <= 0 or high.get("comparator"):
        return None
    return value, quantity_unit(high)


def _in_unit(reading: Reading, analyte: Analyte, target: str, convert: AnalyteConverter, when: str) -> float | Missing:
    """The reading's value in `target`. A value without a unit converts only where mappings.units has an explicit
    alias for "" (scores, INR)."""
    if reading.unit == target:
        return reading.value
    converted = convert(reading.value, reading.unit or "", target, analyte.id)
    if not isinstance(converted, str):
        return converted
    if reading.unit is None:
        if analyte.is_score or ((analyte.unit or "") in _UNITLESS and target in _UNITLESS):
            return reading.value
        return Missing(f"{analyte.label} {reading.shown} ({when}) has no unit")
    return Missing(f"{analyte.label} {reading.shown} cannot be converted to {target}")


def measure(
    entry: Entry,
    analyte: Analyte,
    unit: str,
    convert: AnalyteConverter,
    lower_bounds: bool = False,
) -> Measurement | Missing | None:
    """The entry's value in `unit` (or as a multiple of the ULN); None if the entry carries no value.

    `lower_bounds` (Highest): ">1:1280" reads as at least 1280, marked open above; otherwise a bound is Missing.
    """
    reading = read(entry.holder, analyte)
    if reading is None:
        return None
    when = entry.timing.shown or "no date"
    if isinstance(reading, str):
        return Missing(f"{analyte.label} ({when}): {reading}")
    evidence = Evidence.of(entry.reference, f"{analyte.label} {reading.shown} ({when})")
    taken = entry.timing.start[0] if entry.timing.start else None
    at_least = lower_bounds and reading.comparator in (">", ">=")
    if reading.comparator is not None and not at_least:
        # "<0.5" is a bound, not the value 0.5; a bound alone cannot be compared with a threshold here.
        return Missing(f"{analyte.label} {reading.shown} ({when}) is a bound, not a value")

    if unit != ULN:
        value = _in_unit(reading, analyte, unit, convert, when)
        if isinstance(value, Missing):
            return value
        if at_least:
            bound = f"{analyte.label} {reading.shown} ({when}) is a lower bound"
            return Measurement(value, unit, evidence, taken, high=math.inf, doubt=bound)
        return _new_tuple(Measurement, (value, unit, evidence, taken, None, None, None))  # the defaults spelt out

    high = _upper_limit_of_normal(entry.holder)
    if high is not None and reading.unit is not None:
        limit, limit_unit = high
        if limit_unit is not None and limit_unit != reading.unit:
            converted = convert(limit, limit_unit, reading.unit, analyte.id)
            limit = -1.0 if isinstance(converted, str) else converted
        if limit > 0:
            return Measurement(reading.value / limit, ULN, evidence, taken)
    if analyte.default_uln is None or analyte.unit is None:
        return Missing(f"Upper limit of normal for {analyte.label} {reading.shown} ({when})")
    value = _in_unit(reading, analyte, analyte.unit, convert, when)
    if isinstance(value, Missing):
        return value
    note = f"default ULN {fmt(analyte.default_uln)} {analyte.unit} used"
    return Measurement(value / analyte.default_uln, ULN, evidence, taken, note)
