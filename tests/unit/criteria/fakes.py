"""A real, tiny vocabulary and patient for the language's unit tests (no mocks: the Protocols are small)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import ClassVar

from service.criteria import (
    Estimate,
    Event,
    EventQuery,
    Evidence,
    Measurement,
    MeasurementQuery,
    Missing,
)

ON = dt.date(2026, 11, 23)
HEADER = 'trial "unit"\n'


class Vocabulary:
    """anc (10*9/L), creatinine (mg/dL, also umol/L), lupus (a condition), score (a dimensionless score)."""

    UNITS: ClassVar[dict[str, str]] = {"anc": "10*9/L", "creatinine": "mg/dL", "score": "{score}"}
    COMMENSURABLE: ClassVar[dict[str, tuple[str, ...]]] = {"creatinine": ("mg/dL", "umol/L")}

    def has_concept(self, concept: str, kind: str) -> bool:
        return (concept, kind) in {("lupus", "Condition"), *((c, "Observation") for c in self.UNITS)}

    def concept_unit(self, concept: str) -> str | None:
        return self.UNITS.get(concept)

    def is_commensurable(self, concept: str, unit: str) -> bool:
        return unit in self.COMMENSURABLE.get(concept, (self.UNITS.get(concept),))

    def half_life_hours(self, concept: str) -> float | None:
        return None

    def label(self, concept: str) -> str:
        return concept.upper()


@dataclass
class Patient:
    """Answers from plain fields; records every question asked, so tests can see what the engine asked for."""

    values: dict[str, float] = field(default_factory=dict)
    conditions: tuple[str, ...] = ()
    derived_values: dict[str, Estimate] = field(default_factory=dict)
    asked: list[object] = field(default_factory=list)

    def birth_date_range(self) -> tuple[dt.date, dt.date] | Missing:
        return Missing("Date of birth")

    def sex(self) -> str | Missing:
        return Missing("Administrative sex")

    def events(self, query: EventQuery, on: dt.date) -> Sequence[Event] | Missing:
        self.asked.append(query)
        return tuple(Event(Evidence(f"Condition/{c}", c), on, on) for c in self.conditions if c in query.concepts)

    def latest(self, query: MeasurementQuery, on: dt.date) -> Measurement | Missing:
        self.asked.append(query)
        for concept in sorted(query.concepts):
            if concept in self.values:
                return Measurement(self.values[concept], query.unit, Evidence(f"Observation/{concept}", concept))
        return Missing(f"{' or '.join(sorted(query.concepts))} value")

    def derived(self, quantity: str, on: dt.date) -> Estimate:
        self.asked.append(quantity)
        return self.derived_values.get(quantity, Estimate(None, None, (), (f"{quantity} inputs",)))


@dataclass
class IndexedPatient(Patient):
    """A Patient that says which concepts it holds (IndexedPatientData); `blanks` counts the blank patients made."""

    sex_value: str = "female"
    missing_kinds: frozenset[str] = frozenset()  # stands for unreadable types: part of the gaps
    blanks: list[Patient] = field(default_factory=list)
    born: tuple[dt.date, dt.date] | None = None

    def sex(self) -> str | Missing:
        self.asked.append("sex")
        return self.sex_value

    def birth_date_range(self) -> tuple[dt.date, dt.date] | Missing:
        self.asked.append("birth")
        return Missing("Date of birth") if self.born is None else self.born

    def concepts_held(self) -> AbstractSet[str]:
        return {*self.values, *self.conditions}

    def gaps(self) -> Hashable:
        return self.missing_kinds

    def blank(self) -> Patient:
        blank = IndexedPatient(sex_value="unknown", missing_kinds=self.missing_kinds)
        self.blanks.append(blank)
        return blank
