"""Closed-world events: when a record happened, whether it is current, and whether it falls in a window."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from service.criteria.inputs import Course, EventStatus, Window
from service.facts.counting import codes_of
from service.facts.derived import date_range, shown_range
from service.fhir_access.resource_types import ResourceType

Range = tuple[dt.date, dt.date]

# Enum members read once: `ResourceType.MEMBER` runs Python code on every read, and these are read per record.
_REQUEST, _STATEMENT = ResourceType.MEDICATION_REQUEST, ResourceType.MEDICATION_STATEMENT
_ADMINISTRATION, _PROCEDURE = ResourceType.MEDICATION_ADMINISTRATION, ResourceType.PROCEDURE
ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})
# Statuses meaning "currently taking" / "still going" per resource type.
_CURRENT_STATUS: Mapping[str, frozenset[str]] = {
    ResourceType.MEDICATION_REQUEST: frozenset({"active"}),
    ResourceType.MEDICATION_STATEMENT: frozenset({"active"}),
    ResourceType.MEDICATION_ADMINISTRATION: frozenset({"in-progress"}),
    ResourceType.PROCEDURE: frozenset({"in-progress"}),
}


class Timing(NamedTuple):
    """When a record happened, as far as the record says. A named tuple: one is made per record a query reaches
    (every result of an analyte a Latest reads), and a tuple is built several times faster than a frozen dataclass.

    `start` / `end` are (earliest, latest) day ranges; `start_by` is a latest-possible start when the
    start itself is unknown (e.g. a Condition's recordedDate); `ongoing` means still going at the time of
    the record (active condition, current medication), so it overlaps every window up to `on`.
    """

    start: Range | None
    end: Range | None
    ongoing: bool
    start_by: dt.date | None
    shown: str | None  # the date the report shows
    current: bool  # counts for EventStatus.ACTIVE


# A Timing made by the tuple's own constructor (in C): the named tuple's generated __new__ is a Python call, and a
# Timing is made per condition, medication and procedure record.
_new_timing = tuple.__new__


def _status(resource: Mapping[str, Any]) -> str:
    status = resource.get("status")
    return status.strip().lower() if isinstance(status, str) else ""


def _period(period: object) -> tuple[Range | None, Range | None]:
    if type(period) is not dict and not isinstance(period, Mapping):  # the type first: the ABC check costs more
        return None, None
    return date_range(period.get("start")), date_range(period.get("end"))


def _show(found: Range) -> str:
    low, high = found
    if low == high:
        return low.isoformat()
    if (low.year, low.month) == (high.year, high.month):
        return f"{low.year:04d}-{low.month:02d}"
    return f"{low.year:04d}"


def _span(start: Range | None, end: Range | None) -> str | None:
    if start is None:
        return None
    if end is None or end == start:
        return _show(start)
    return f"{_show(start)} to {_show(end)}"


def _point(value: object) -> Timing | None:
    """A dated event at one point in time (an immunization, a result): always counts as current."""
    return point_at(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=8192)
def point_at(text: str) -> Timing | None:
    """Per date text, not per record: a patient's results of one panel share their date (a Timing is immutable)."""
    found = date_range(text)
    if found is None:
        return None
    return Timing(found, found, False, None, shown_range(text, found), True)


def condition_timing(resource: Mapping[str, Any]) -> Timing:
    clinical = codes_of(resource.get("clinicalStatus"))
    start = date_range(resource.get("onsetDateTime"))
    if start is None:
        start = _period(resource.get("onsetPeriod"))[0]
    end = date_range(resource.get("abatementDateTime"))
    if end is None:
        period_start, period_end = _period(resource.get("abatementPeriod"))
        end = period_end or period_start
    # Absent clinicalStatus counts as active (policy) unless the record says it abated (FHIR con-4): the keys
    # are walked only then, as most conditions state a clinicalStatus.
    if clinical:
        current = not ACTIVE_CONDITION.isdisjoint(clinical)
    else:
        current = not any(key.startswith("abatement") for key in resource)
    recorded = date_range(resource.get("recordedDate"))
    start_by = recorded[1] if recorded is not None and start is None else None
    shown = _span(start, None if current else end)
    return _new_timing(Timing, (start, None if current else end, current, start_by, shown, current))


def medication_timing(resource_type: str, resource: Mapping[str, Any]) -> Timing:
    status = _status(resource)
    current = status in _CURRENT_STATUS[resource_type]
    start: Range | None = None
    end: Range | None = None
    start_by: dt.date | None = None
    if resource_type == _REQUEST:
        starts: list[Range] = []
        ends: list[Range] = []
        for dosage in resource.get("dosageInstruction") or ():
            if type(dosage) is not dict and not isinstance(dosage, Mapping):
                continue
            timing = dosage.get("timing")
            repeat = timing.get("repeat") if type(timing) is dict or isinstance(timing, Mapping) else None
            if type(repeat) is dict or isinstance(repeat, Mapping):
                bound_start, bound_end = _period(repeat.get("boundsPeriod"))
                if bound_start is not None:
                    starts.append(bound_start)
                if bound_end is not None:
                    ends.append(bound_end)
        start = min(starts) if starts else date_range(resource.get("authoredOn"))
        end = max(ends) if ends and len(ends) == len(starts) else None
    else:
        start = date_range(resource.get("effectiveDateTime"))
        if start is not None:
            end = start
        else:
            start, end = _period(resource.get("effectivePeriod"))
        if resource_type == _STATEMENT and start is None:
            asserted = date_range(resource.get("dateAsserted"))
            start_by = asserted[1] if asserted is not None else None
    ongoing = current and (end is None or end == start)
    if ongoing:
        end = None
    return _new_timing(Timing, (start, end, ongoing, start_by, _span(start, end), current))


def procedure_timing(resource: Mapping[str, Any]) -> Timing:
    current = _status(resource) in _CURRENT_STATUS[_PROCEDURE]
    start = date_range(resource.get("performedDateTime"))
    end = start
    if start is None:
        start, end = _period(resource.get("performedPeriod"))
    ongoing = current and end is None
    return _new_timing(Timing, (start, end, ongoing, None, _span(start, end), current))


def immunization_timing(resource: Mapping[str, Any]) -> Timing:
    found = _point(resource.get("occurrenceDateTime"))
    if found is not None:
        return found
    recorded = date_range(resource.get("recorded"))
    return Timing(None, None, False, recorded[1] if recorded else None, None, True)


def observation_timing(resource: Mapping[str, Any]) -> Timing:
    """effectiveDateTime / effectiveInstant / effectivePeriod (end, else start) / issued, as one point."""
    written = resource.get("effectiveDateTime")  # nearly every result: read it before the general walk
    if type(written) is str and (found := point_at(written)) is not None:
        return found
    for key in ("effectiveDateTime", "effectiveInstant"):
        found = _point(resource.get(key))
        if found is not None:
            return found
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping):
        for key in ("end", "start"):
            found = _point(period.get(key))
            if found is not None:
                return found
    found = _point(resource.get("issued"))
    return found or Timing(None, None, False, None, None, True)


# Resource type → how its timing is read (medication types: `medication_timing`, which also takes the type). One
# dict read: comparing with each Enum member in turn reads each off its class, which runs Python code.
_TIMING_OF: Mapping[str, Callable[[Mapping[str, Any]], Timing]] = {
    ResourceType.CONDITION: condition_timing,
    ResourceType.OBSERVATION: observation_timing,
    ResourceType.PROCEDURE: procedure_timing,
    ResourceType.IMMUNIZATION: immunization_timing,
}


def timing_of(resource_type: str, resource: Mapping[str, Any]) -> Timing:
    read = _TIMING_OF.get(resource_type)
    return read(resource) if read is not None else medication_timing(resource_type, resource)


_ANY_STATUS = EventStatus.ANY  # read once: an Enum member read off its class runs Python code


def every_status_counts(status: EventStatus, window: Window) -> bool:
    """Whether records count whatever their status; else only current ones (`Timing.current`) do. Asked once per
    query, not per record. ANY: every counted record. ACTIVE: current by its status (clinicalStatus, or "active" =
    currently taking).

    "Active within N weeks" means active at any time in those weeks, not active today: with a `within` window a
    record no longer current still counts, and `place` decides from its end (abatement, end of the period)
    whether it reached into the window (no end recorded: unknown, unless it started inside the window).
    """
    return status is _ANY_STATUS or window.within_days is not None


def place(timing: Timing, window: Window, on: dt.date) -> bool | None:
    """Whether the record falls in `window` on `on`: True, False, or None when its timing cannot say.

    Records that start after `on` never count. `within_days`: the record's time overlaps [on - N, on];
    `before_days`: it started at least N days before `on`. Three-valued: any False wins, then any None.
    """
    start, end = timing.start, timing.end
    if start is not None and start[0] > on:
        return False
    latest_start = start[1] if start is not None else timing.start_by
    unknown = False  # a None seen: the answer unless a False comes (no list of answers: this runs per record)
    if window.before_days is not None:
        cutoff = on - dt.timedelta(days=window.before_days)
        if latest_start is not None and latest_start <= cutoff:
            pass
        elif start is not None and start[0] > cutoff:
            return False
        else:
            unknown = True
    if window.within_days is not None:
        from_day = on - dt.timedelta(days=window.within_days)
        if latest_start is None or latest_start > on:
            unknown = True
        if timing.ongoing:
            pass
        elif end is not None:
            if end[1] < from_day:
                return False
            if end[0] < from_day:
                unknown = True
        elif start is None or start[0] < from_day:  # the end is unknown but cannot precede a start inside
            unknown = True
    return None if unknown else True


# UCUM / FHIR Duration units -> days (calendar months and years as in the criteria language).
_DAYS_PER_UNIT: Mapping[str, float] = {
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.4375,
    "a": 365.25,
}
_UNIT_WORDS: Mapping[str, str] = {
    "hour": "h", "hours": "h", "day": "d", "days": "d", "week": "wk", "weeks": "wk",
    "month": "mo", "months": "mo", "year": "a", "years": "a",
}  # fmt: skip


def duration_days(duration: object) -> int | None:
    """A FHIR Duration (value + UCUM code or unit word) as whole days; None if it cannot be read."""
    if not isinstance(duration, Mapping):
        return None
    value = duration.get("value")
    unit = duration.get("code") or duration.get("unit")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or not isinstance(unit, str):
        return None
    unit = unit.strip()
    per_day = _DAYS_PER_UNIT.get(unit) or _DAYS_PER_UNIT.get(_UNIT_WORDS.get(unit.lower(), ""))
    return None if per_day is None else max(1, round(value * per_day))


def _bounds_duration(resource: Mapping[str, Any]) -> int | None:
    """The longest dosage `timing.repeat.boundsDuration` ("for 10 days")."""
    found: list[int] = []
    for dosage in resource.get("dosage") or resource.get("dosageInstruction") or ():
        timing = dosage.get("timing") if isinstance(dosage, Mapping) else None
        repeat = timing.get("repeat") if isinstance(timing, Mapping) else None
        days = duration_days(repeat.get("boundsDuration")) if isinstance(repeat, Mapping) else None
        if days is not None:
            found.append(days)
    return max(found) if found else None


def _supply(resource: Mapping[str, Any]) -> tuple[int, int] | None:
    """Days one dispense covers, and with every allowed refill (`dispenseRequest`)."""
    dispense = resource.get("dispenseRequest")
    if not isinstance(dispense, Mapping):
        return None
    days = duration_days(dispense.get("expectedSupplyDuration"))
    if days is None:
        return None
    refills = dispense.get("numberOfRepeatsAllowed")
    extra = refills if isinstance(refills, int) and not isinstance(refills, bool) and refills > 0 else 0
    return days, days * (1 + extra)


def medication_course(resource_type: str, resource: Mapping[str, Any], timing: Timing, on: dt.date) -> Course | None:
    """The days a medication record shows the drug taken, up to `on`; None when the record has no start date.

    The end comes from the record's period (bounds, effective period), else its dosage "for N days", else the
    supply it dispenses (one fill surely, every allowed refill at most); a current record lasts until `on`.
    A record that says none of these proves its first day only, and may have lasted until `on`.
    """
    if timing.start is None:
        return None
    earliest_first, first = timing.start
    if timing.ongoing:
        proven_last = latest_last = on
    elif timing.end is not None and not (resource_type == _STATEMENT and timing.end == timing.start):
        proven_last, latest_last = timing.end
    else:
        days = _bounds_duration(resource)
        supply = _supply(resource) if resource_type == _REQUEST else None
        if days is not None:
            proven_last, latest_last = first + dt.timedelta(days=days - 1), earliest_first + dt.timedelta(days=days - 1)
        elif supply is not None:
            proven_last = first + dt.timedelta(days=supply[0] - 1)
            latest_last = earliest_first + dt.timedelta(days=supply[1] - 1)
        elif resource_type == _ADMINISTRATION:
            proven_last = latest_last = timing.end[1] if timing.end is not None else first
        else:
            proven_last, latest_last = first, on
    proven_last, latest_last = min(proven_last, on), min(max(latest_last, proven_last), on)
    return Course(first, max(proven_last, first), earliest_first, max(latest_last, earliest_first))
