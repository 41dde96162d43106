"""What the evaluator reads from a patient: the Protocol the facts layer implements.

The language never sees FHIR. It asks for events (closed world: no record means "did not happen"),
measurements (open world: no value means "unknown") and qualitative results, always by concept id,
and gets back plain values that carry their own evidence, or a `Missing` that says what would decide it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import NamedTuple, Protocol


@dataclass(frozen=True, slots=True)
class Evidence:
    """A record a result rests on, as the report shows it."""

    reference: str  # "Observation/abc"
    display: str  # "Hemoglobin 112 g/L (2026-11-01)"

    @classmethod
    def of(cls, reference: str, display: str) -> Evidence:
        """The facts layer builds one per record a query reaches: the fields are set by the slots' own setters,
        which the frozen dataclass's __init__ reaches through object.__setattr__ by name at twice the cost. As
        frozen and equal as the constructor's (tests/unit/criteria/test_inputs.py)."""
        evidence = _new(cls)
        _set_reference(evidence, reference)
        _set_display(evidence, display)
        return evidence


_new = object.__new__
_set_reference, _set_display = (getattr(Evidence, name).__set__ for name in Evidence.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Missing:
    """Data that would decide a criterion, in words a coordinator can act on."""

    reason: str  # "Absolute neutrophil count within the last 90 days"


@dataclass(frozen=True, slots=True)
class Window:
    """When a record must have happened, relative to the evaluation date.

    `within_days`: the record's time overlaps [on - within_days, on].
    `before_days`: the record started at least this many days before `on`.
    None on both means any time (for measurements: the concept's default look-back).
    """

    within_days: int | None = None
    before_days: int | None = None


class RecordKind(StrEnum):
    """The kinds of record the language reads (its resource words); the facts layer maps each to FHIR types."""

    CONDITION = "Condition"
    OBSERVATION = "Observation"
    MEDICATION = "Medication"
    PROCEDURE = "Procedure"
    IMMUNIZATION = "Immunization"


class EventStatus(Enum):
    """Which clinical statuses count for a closed-world retrieve."""

    ACTIVE = "active"  # condition active/recurrence/relapse (or absent); medication current
    ANY = "any"  # history: also inactive / remission / resolved / completed


class Polarity(Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class EventQuery:
    kind: RecordKind
    concepts: frozenset[str]
    window: Window = Window()
    status: EventStatus = EventStatus.ANY
    polarity: Polarity | None = None  # Observation only: keep results of this polarity
    half_lives: float | None = None  # Medication: within this many of each drug's half-lives (replaces `window`)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Queries are cache keys on the hot path: hash once, not on every lookup.
        key = (self.kind, self.concepts, self.window, self.status, self.polarity, self.half_lives)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class Course:
    """The days a medication record shows the drug was taken, up to the evaluation date.

    Surely every day of [`first`, `proven_last`]; at most every day of [`earliest_first`, `latest_last`]. The two
    differ when the record does not say how long the drug was taken (no end, no supply duration).
    """

    first: dt.date
    proven_last: dt.date
    earliest_first: dt.date
    latest_last: dt.date

    @property
    def exact(self) -> bool:
        return self.first == self.earliest_first and self.proven_last == self.latest_last


class Event(NamedTuple):
    """One counted record (a named tuple: queries make one per record they reach, faster than a dataclass).

    `certain` is False when the record matches but its timing cannot be placed in the window (no date),
    or it is itself tentative (an unconfirmed diagnosis): it can make `exists` unknown, never met.
    `course`: for medication records, the days it shows the drug taken (None: the record has no date).
    """

    evidence: Evidence
    start: dt.date | None
    end: dt.date | None
    certain: bool = True
    doubt: str | None = None  # why it is not certain, when that is not its missing date
    course: Course | None = None


@dataclass(frozen=True, slots=True)
class MeasurementQuery:
    concepts: frozenset[str]
    unit: str  # UCUM unit the caller wants the value in, or "ULN" for a multiple of the upper limit
    window: Window = Window()
    highest: bool = False  # Highest(...): the highest value in the window ("any titre >= 1:80"), not the latest
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.concepts, self.unit, self.window, self.highest)))

    def __hash__(self) -> int:
        return self._hash


class Measurement(NamedTuple):
    """The latest (or highest) value in the window, converted to the unit asked for (a named tuple: a patient's
    Latest queries make one each, and a tuple is built several times faster than a frozen dataclass)."""

    value: float
    unit: str
    evidence: Evidence
    taken: dt.date | None = None
    note: str | None = None  # e.g. "default ULN 40 U/L used"
    # Imprecise: the value lies in [value, high] (same-day results that disagree; a highest left open above by
    # results that cannot be read: high = inf), and `doubt` says what would make it exact. None: exact.
    high: float | None = None
    doubt: str | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A quantity the patient data derives from several records (creatinine clearance from creatinine, weight, age
    and sex): surely in [low, high]; None on both when it cannot be derived. `missing` says what would give it or
    make it exact."""

    low: float | None
    high: float | None
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()


class PatientData(Protocol):
    """A patient as the evaluator sees it; evaluation date is passed in, never read from a clock."""

    def birth_date_range(self) -> tuple[dt.date, dt.date] | Missing:
        """Earliest and latest possible birth date (equal when the birthDate is complete)."""
        ...

    def sex(self) -> str | Missing:
        """Administrative gender: "female", "male", "other" or "unknown"."""
        ...

    def events(self, query: EventQuery, on: dt.date) -> Sequence[Event] | Missing:
        """Counted records (closed world), or Missing when the records of that kind could not be read."""
        ...

    def latest(self, query: MeasurementQuery, on: dt.date) -> Measurement | Missing: ...

    def derived(self, quantity: str, on: dt.date) -> Estimate:
        """A derived quantity by its id (the checker's `Signature.derived`, e.g. "creatinine-clearance")."""
        ...


class IndexedPatientData(PatientData, Protocol):
    """Patient data that knows which concepts its records carry: a criterion reading none of them answers as the
    same patient with no records would (`blank`), which the evaluator computes once per `gaps` and day. The
    promise that makes this exact: `events` and `latest` about concepts none of which is held answer from `gaps`
    and the day alone.
    (`concepts_held` is a set, not a test of one concept: the evaluator asks it hundreds of times per patient.)"""

    def concepts_held(self) -> AbstractSet[str]:
        """The concepts some counted record carries (by code, by text, or as every record of a kind)."""
        ...

    def gaps(self) -> Hashable:
        """What, besides its records, can change an answer about concepts no record carries (records that could
        not be read, references that could not be resolved): equal keys, equal answers."""
        ...

    def blank(self) -> PatientData:
        """A patient with the same `gaps` and nothing else, no records and no demographics: it answers for every
        patient with these gaps (the evaluator never asks it for age, sex or a derived quantity)."""
        ...
