"""The audit trail's filter (patient, trial, status, latest feedback outcome, dates), as typed by a person in the
page's form or given to the API: parsed once, echoed back in forms and links, and handed to the store."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from service.audit.store import NO_FEEDBACK, CardFilter, FeedbackOutcome
from service.screening.contract import Status


class OutcomeFilter(StrEnum):
    """The latest feedback's outcome, or none yet."""

    ACCEPTED = FeedbackOutcome.ACCEPTED.value
    OVERRIDDEN = FeedbackOutcome.OVERRIDDEN.value
    NONE = NO_FEEDBACK


STATUSES: Final = tuple(s.value for s in Status)
DATE_OR_DATE_TIME: Final[dict[str, Any]] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}
OUTCOME_FILTERS: Final = tuple(o.value for o in OutcomeFilter)


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter as typed by the user (to echo it back in forms and links) and as the store takes it."""

    raw: dict[str, str]
    flt: CardFilter
    errors: list[tuple[str, str]] = field(default_factory=list)  # (query parameter, message)

    def query(self, **extra: str | None) -> str:
        values = {**self.raw, **{k: v for k, v in extra.items() if v}}
        return urlencode({k: v for k, v in values.items() if v})


def _bound(raw: str, *, end: bool) -> dt.datetime:
    """A date means the whole day (UTC); a datetime without offset is UTC. ``end`` is exclusive. OverflowError:
    the bound lies beyond the years 1 to 9999 in UTC."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        moment = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
        return moment + dt.timedelta(days=1) if end else moment
    moment = dt.datetime.fromisoformat(raw)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _patient_ref(raw: str) -> str:
    """``123`` and ``Patient/123`` both mean Patient/123."""
    return raw if "/" in raw else f"Patient/{raw}"


def parse_filters(
    patient: str | None,
    trial: str | None,
    status: str | None,
    outcome: str | None,
    from_: str | None,
    to: str | None,
) -> Filters:
    raw = {
        "patient": (patient or "").strip(),
        "trial": (trial or "").strip(),
        "status": (status or "").strip(),
        "outcome": (outcome or "").strip(),
        "from": (from_ or "").strip(),
        "to": (to or "").strip(),
    }
    errors: list[tuple[str, str]] = []
    if raw["status"] and raw["status"] not in STATUSES:
        errors.append(("status", f"status must be one of {', '.join(STATUSES)}"))
    if raw["outcome"] and raw["outcome"] not in OUTCOME_FILTERS:
        errors.append(("outcome", f"outcome must be one of {', '.join(OUTCOME_FILTERS)}"))
    bounds: dict[str, dt.datetime | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if raw[name]:
            try:
                bounds[name] = _bound(raw[name], end=name == "to")
            except ValueError:
                errors.append((name, f"{name} must be an ISO date (YYYY-MM-DD) or date-time"))
            except OverflowError:  # 9999-12-31 as an end (the next day), 0001-01-01T00:00+05:00 in UTC: a bound
                pass  # beyond the calendar leaves that side open (every card lies within it)
    start, end = bounds["from"], bounds["to"]
    flt = CardFilter(
        patient=_patient_ref(raw["patient"]) if raw["patient"] else None,
        trial=raw["trial"] or None,
        status=raw["status"] if raw["status"] in STATUSES else None,
        outcome=raw["outcome"] if raw["outcome"] in OUTCOME_FILTERS else None,
        start=start,
        end=end,
    )
    return Filters(raw, flt, errors)


def api_filters(
    patient: Annotated[str | None, Query(max_length=256, description="Patient reference (Patient/123 or 123)")] = None,
    trial: Annotated[str | None, Query(max_length=128, description="Trial id")] = None,
    status: Annotated[Status | None, Query(description="Trial status on the card")] = None,
    outcome: Annotated[OutcomeFilter | None, Query(description="Latest feedback outcome; none: no feedback")] = None,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=64,
            description="Created at or after: ISO date (UTC day start) or date-time",
            json_schema_extra=DATE_OR_DATE_TIME,
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Created before: ISO date-time (exclusive), or a date (that whole UTC day)",
            json_schema_extra=DATE_OR_DATE_TIME,
        ),
    ] = None,
) -> Filters:
    parsed = parse_filters(patient, trial, status, outcome, from_, to)
    # the page's form sends empty fields for "any"; the API documents a date, so an empty one is an error
    empty = [(name, f"{name} must be an ISO date or date-time") for name, v in (("from", from_), ("to", to)) if v == ""]
    if errors := parsed.errors + empty:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", name), "msg": message} for name, message in errors]
        )
    return parsed
