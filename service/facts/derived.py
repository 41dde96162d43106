"""Inputs derived from the Patient resource, and FHIR date parsing with partial dates as ranges."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from service.criteria.inputs import Missing

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_SEXES = frozenset({"female", "male", "other", "unknown"})


def date_range(value: object) -> tuple[dt.date, dt.date] | None:
    """Earliest and latest day a FHIR date / dateTime / instant can mean, as UTC dates; None if unreadable.

    "1980" is the whole year, "1980-05" the whole month; a dateTime with a time zone is moved to UTC first.
    """
    if not isinstance(value, str):
        return None
    return _date_range(value.strip())


@functools.lru_cache(maxsize=8192)
def _date_range(text: str) -> tuple[dt.date, dt.date] | None:
    if "T" in text:
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.UTC)
        except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+05:00 is before year 1 in UTC
            return None
        day = moment.date()
        return day, day
    match = _DATE.match(text)
    if match is None:
        return None
    year_text, month_text, day_text = match.groups()
    year = int(year_text)
    try:
        if month_text is None:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        month = int(month_text)
        if day_text is None:
            return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
        day = dt.date(year, month, int(day_text))
    except ValueError:
        return None
    return day, day


def shown_range(value: object, found: tuple[dt.date, dt.date]) -> str:
    """The date part of a FHIR date/dateTime `value` (already parsed to `found`) as the report shows it
    ("2026-11-01", "2026-11")."""
    low, high = found
    return low.isoformat() if low == high else str(value).strip()


def birth_date_range(patient: Mapping[str, Any]) -> tuple[dt.date, dt.date] | Missing:
    """Earliest and latest possible birth date; a partial birthDate gives a range."""
    found = date_range(patient.get("birthDate"))
    if found is None:
        return Missing("Date of birth")
    return found


def sex(patient: Mapping[str, Any]) -> str | Missing:
    """Administrative gender as recorded (female / male / other / unknown)."""
    gender = patient.get("gender")
    if isinstance(gender, str) and gender.strip().lower() in _SEXES:
        return gender.strip().lower()
    return Missing("Administrative sex")
