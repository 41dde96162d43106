"""PatientFacts: one PatientRecord as the evaluator sees it (implements service.criteria.inputs.PatientData)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator

from mappings.catalog import Catalog
from mappings.units import NotConvertible, convert
from service.criteria.inputs import (
    Estimate,
    Event,
    EventQuery,
    Evidence,
    Measurement,
    MeasurementQuery,
    Missing,
    Polarity,
    RecordKind,
    Window,
)
from service.facts import derived
from service.facts.counting import tentative
from service.facts.estimates import ESTIMATES
from service.facts.history import every_status_counts, medication_course, place
from service.facts.index import KIND_TYPES, MEDICATION_TYPES, ConceptIndex, Entry
from service.facts.measurements import Analyte, in_window, measure, on_supplemental_oxygen, window_text
from service.facts.qualitative import Reading, has_result, polarity, standing
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import ResourceType

_SORT_KEY = operator.itemgetter(0)  # the sort key put first in a tuple: no Python call per item sorted
# A dated Observation entry as `_newest_first` sorts it: (latest start, earliest start, reference), concept, entry.
_Dated = tuple[tuple[dt.date, dt.date, str], str, Entry]
INHALED_OXYGEN = "inhaled-oxygen"  # concept of FiO2 / O2 flow results that qualify a room-air reading
# Enum members read once: `Class.MEMBER` runs Python code on every read, and these are read on every query.
_OBSERVATION = ResourceType.OBSERVATION
_OBSERVATIONS = (_OBSERVATION,)
_OBSERVATION_KIND, _MEDICATION_KIND = RecordKind.OBSERVATION, RecordKind.MEDICATION
# Events made by the tuple's own constructor (in C), every field given: the named tuple's generated __new__ is a
# Python call, slower still with keywords.
_new_event = tuple.__new__
_POSITIVE, _NEGATIVE = Polarity.POSITIVE, Polarity.NEGATIVE
_POLARITIES = {polarity.value: polarity for polarity in Polarity}  # a dict read: the Enum call runs Python code


@functools.cache
def _analytes(catalog: Catalog) -> dict[str, Analyte]:
    """Per catalog, not per patient (the catalog is loaded once and never changes): each concept's Analyte, made
    when first read. A dict read by concept, as queries read an analyte ~35 times per patient."""
    return {}


def _analyte_of(catalog: Catalog, concept_id: str) -> Analyte:
    """What measurements need of a concept, from the catalog (kept in `_analytes`)."""
    concept = catalog.concept(concept_id)
    measured = catalog.analyte(concept_id)
    return Analyte(
        concept_id,
        concept.label,
        concept.unit,
        concept.default_uln,
        "score" in concept.kinds,
        measured is not None and measured.room_air_only,
    )


class PatientFacts:
    """Indexes the record once at construction; every query after that is a few dict reads.

    `unreadable`: resource types that could not be read (e.g. a failed FHIR search). Queries that need
    them answer Missing, so their criteria become unknown, never met or not-met on partial data.
    """

    __slots__ = (
        "_analytes",
        "_catalog",
        "_dated",
        "_held",
        "_index",
        "_matched",
        "_memo",
        "_memo_on",
        "_readings",
        "_record",
        "_unreadable",
    )

    def __init__(
        self,
        record: PatientRecord,
        catalog: Catalog,
        *,
        unreadable: frozenset[str] = frozenset(),
        index: ConceptIndex | None = None,
    ) -> None:
        self._record = record
        self._catalog = catalog
        self._analytes = _analytes(catalog)
        self._unreadable = unreadable
        self._index = ConceptIndex(record, catalog) if index is None else index
        # the index's concepts as a frozenset, not its keys view: the evaluator tests it against criteria's concept
        # sets hundreds of times per patient (`concepts_held`), as do queries here, and two frozensets meet on their
        # stored hashes, a view through an iterator
        self._held = frozenset(self._index.concepts())
        # answers by (query, on): trials ask the same questions (frozen queries, immutable answers); also the
        # events made of records, by (concept, entry, placed)
        self._memo: dict[object, object] = {}
        self._memo_on: dt.date | None = None
        self._dated: dict[frozenset[str], list[_Dated]] = {}  # by concepts, for any date
        self._matched: dict[tuple[frozenset[str], tuple[str, ...]], list[tuple[str, Entry]]] = {}  # for any date
        # per analyte, for the memo's date: its results' polarities, dated and undated (`_polarities`)
        self._readings: dict[str, tuple[list[tuple[Entry, Polarity | None]], list[tuple[Entry, Polarity | None]]]] = {}

    # --- derived -------------------------------------------------------------------------------------
    def birth_date_range(self) -> tuple[dt.date, dt.date] | Missing:
        return derived.birth_date_range(self._record.patient)

    def sex(self) -> str | Missing:
        return derived.sex(self._record.patient)

    # --- which concepts the record holds (IndexedPatientData) -----------------------------------------
    def concepts_held(self) -> frozenset[str]:
        return self._held

    def gaps(self) -> tuple[frozenset[str], int]:
        """Unreadable types and the number of unresolved medication references: all `_gap` reads besides concepts."""
        return self._unreadable, len(self._index.unresolved)

    def blank(self) -> PatientFacts:
        record = PatientRecord({"resourceType": ResourceType.PATIENT}, {})
        index = ConceptIndex.without_records(self._index.unresolved)
        return PatientFacts(record, self._catalog, unreadable=self._unreadable, index=index)

    # --- closed world ------------------------------------------------------------------------------
    def events(self, query: EventQuery, on: dt.date) -> tuple[Event, ...] | Missing:
        if on != self._memo_on:
            self._start_memo(on)
        found = self._memo.get(query)
        if found is None:
            found = self._memo[query] = self._events(query, on)
        return found  # type: ignore[return-value]

    def _events(self, query: EventQuery, on: dt.date) -> tuple[Event, ...] | Missing:
        types = KIND_TYPES[query.kind]
        if self._unreadable or self._index.unresolved:  # most records: every type read, every drug resolved
            gap = self._gap(query.kind, types, query.concepts)
            if gap is not None:
                return gap
        if self._held.isdisjoint(query.concepts):  # most exclusions: the patient has none
            return ()
        if query.kind == _OBSERVATION_KIND and query.polarity is not None:
            return self._results(query, query.polarity, on)
        found: list[Event] = []
        every_status = every_status_counts(query.status, query.window)  # per query, not per record
        window = query.window if query.half_lives is None else None  # None: each record's own (`_record_window`)
        for concept, entry in self._matches(query.concepts, types):
            timing = entry.timing
            if not (every_status or timing.current):
                continue
            placed = place(timing, window or self._record_window(query, concept, entry), on)
            if placed is False:
                continue
            key = (concept, entry, placed)
            event = self._memo.get(key)
            if event is None:
                event = self._memo[key] = self._event(concept, entry, placed is True, on)
            found.append(event)  # type: ignore[arg-type]
        if len(found) > 1:
            found.sort(key=_event_order)
        return tuple(found)

    def _event(self, concept: str, entry: Entry, placed: bool, on: dt.date) -> Event:
        """The record as an event of `concept`; kept in the memo by (concept, entry, placed): the trials' queries
        on overlapping concepts reach the same records."""
        timing = entry.timing
        display = f"{self._analyte(concept).label} ({timing.shown or 'no date'})"
        doubt = tentative(entry.resource_type, entry.resource) or _named_only_by_text(entry)
        return _new_event(  # Event(evidence, start, end, certain, doubt, course), by the tuple's own constructor
            Event,
            (
                Evidence.of(entry.reference, display),
                timing.start[0] if timing.start else None,
                timing.end[1] if timing.end else (on if timing.ongoing else None),  # ongoing: lasts until `on`
                placed and doubt is None,
                doubt,
                (
                    medication_course(entry.resource_type, entry.resource, timing, on)
                    if entry.resource_type in MEDICATION_TYPES
                    else None
                ),
            ),
        )

    def _results(self, query: EventQuery, wanted: Polarity, on: dt.date) -> tuple[Event, ...]:
        """Results of `wanted` polarity that stand on `on`, per analyte (qualitative.standing): a later result
        supersedes an earlier one of the same analyte, never of another (a negative HBsAg says nothing of HBV DNA).
        An undated positive can only make the answer unknown."""
        found: list[Event] = []
        for concept in sorted(query.concepts):
            analyte = self._catalog.analyte(concept)
            dated, undated = self._polarities(concept, on)
            if wanted is _POSITIVE:
                for entry, result in undated:
                    if result is not _NEGATIVE:
                        found.append(self._result_event(concept, entry, result, False, "result has no date"))
            window = self._result_window(query, concept)
            for item in standing(
                dated,
                wanted,
                window,
                on,
                ever=analyte is not None and analyte.positive_stands == "ever",
                lapses_days=analyte.positive_lapses_days if analyte else None,
            ):
                found.append(self._result_event(concept, item.entry, item.polarity, item.certain, item.doubt))
        if len(found) > 1:
            found.sort(key=_event_order)
        return tuple(found)

    def _polarities(
        self, concept: str, on: dt.date
    ) -> tuple[list[tuple[Entry, Polarity | None]], list[tuple[Entry, Polarity | None]]]:
        """The results of `concept` taken by `on` with their polarity, dated and undated, read once per day for
        every query of the analyte (positive and negative, each window)."""
        found = self._readings.get(concept)
        if found is None:
            analyte = self._catalog.analyte(concept)
            reading = Reading(analyte.positivity) if analyte else Reading()
            coded = self._coded_answers if reading.positivity == "answer" else self._coded
            dated: list[tuple[Entry, Polarity | None]] = []
            undated: list[tuple[Entry, Polarity | None]] = []
            for _, entry in self._matches(frozenset((concept,)), _OBSERVATIONS):
                start = entry.timing.start
                if not has_result(entry.holder) or (start is not None and start[0] > on):
                    continue
                result = polarity(entry.holder, coded, self._convert_plain, reading)
                (dated if start is not None else undated).append((entry, result))
            found = self._readings[concept] = (dated, undated)
        return found

    def _result_event(
        self, concept: str, entry: Entry, result: Polarity | None, certain: bool, doubt: str | None
    ) -> Event:
        shown = result._value_ if result is not None else "result"  # the member's own attribute: `.value` runs code
        display = f"{self._analyte(concept).label} {shown} ({entry.timing.shown or 'no date'})"
        start = entry.timing.start[0] if entry.timing.start else None
        return _new_event(Event, (Evidence.of(entry.reference, display), start, start, certain, doubt, None))

    # --- open world --------------------------------------------------------------------------------
    def latest(self, query: MeasurementQuery, on: dt.date) -> Measurement | Missing:
        if on != self._memo_on:
            self._start_memo(on)
        found = self._memo.get(query)
        if found is None:
            found = self._memo[query] = self._latest(query, on)
        return found  # type: ignore[return-value]

    def _latest(self, query: MeasurementQuery, on: dt.date) -> Measurement | Missing:
        window = self._window(query)
        if _OBSERVATION in self._unreadable:
            return Missing(
                f"{window_text(self._labels(query.concepts), window)} (Observation records could not be read)"
            )
        oldest = None if window.within_days is None else on - dt.timedelta(days=window.within_days)
        dated = self._newest_first(query.concepts)
        if query.highest:
            candidates = []
            for (latest_start, _, _), concept, entry in dated:
                if oldest is not None and latest_start < oldest:
                    break  # this one and every later one started before the window
                if in_window(entry, window, on):
                    candidates.append((concept, entry))
            return self._highest(query, candidates, window)
        for at, ((latest_start, _, _), concept, entry) in enumerate(dated):
            if oldest is not None and latest_start < oldest:
                break
            if not in_window(entry, window, on):
                continue
            analyte = self._analyte(concept)
            result = measure(entry, analyte, query.unit, self._convert)
            if result is None:  # an Observation without a value is skipped, not a "latest value"
                continue
            if isinstance(result, Missing):
                return result
            if at + 1 < len(dated) and dated[at + 1][2].timing.start == entry.timing.start:
                day = self._same_day(query, entry, result, dated, at + 1)
            else:
                day = [(entry, result)]  # most days: one result, and no other entry to read
            if analyte.room_air_only:
                return self._room_air(day)
            return result if len(day) == 1 else _spread([m for _, m in day])
        return Missing(window_text(self._labels(query.concepts), window))

    def _newest_first(self, concepts: frozenset[str]) -> list[_Dated]:
        """The dated Observation entries under `concepts` with their sort key (latest start, earliest start,
        reference), newest first, sorted once per patient however many queries and units read them."""
        found = self._dated.get(concepts)
        if found is None:
            if len(concepts) == 1:  # most queries: one analyte, its entries read straight off the index (`_match`)
                (concept,) = concepts
                found = [
                    ((start[1], start[0], e.reference), concept, e)
                    for e in self._index.entries(concept)
                    if e.resource_type == _OBSERVATION and (start := e.timing.start)
                ]
            else:
                found = [
                    ((start[1], start[0], e.reference), c, e)
                    for c, e in self._matches(concepts, _OBSERVATIONS)
                    if (start := e.timing.start)
                ]
            found.sort(key=_SORT_KEY, reverse=True)
            self._dated[concepts] = found
        return found

    def _same_day(
        self,
        query: MeasurementQuery,
        entry: Entry,
        result: Measurement,
        dated: list[_Dated],
        after: int,
    ) -> list[tuple[Entry, Measurement]]:
        """The latest result with the other readable results of its day (the record gives no order within it):
        the entries right after it in `dated` with the same start (the order keeps them together; the ones
        before it gave no value, and the same start puts them in the same window)."""
        day = [(entry, result)]
        start = entry.timing.start
        for _, concept, other in dated[after:]:
            if other.timing.start != start:
                break
            found = measure(other, self._analyte(concept), query.unit, self._convert)
            if isinstance(found, Measurement):
                day.append((other, found))
        return day

    def _room_air(self, day: list[tuple[Entry, Measurement]]) -> Measurement | Missing:
        """SpO2 "in non-oxygenated states": only the day's readings without inhaled oxygen on record answer."""
        oxygen = self._index.entries(INHALED_OXYGEN)
        status = [(reading, on_supplemental_oxygen(entry, oxygen, self._convert)) for entry, reading in day]
        room_air = [reading for reading, on_oxygen in status if on_oxygen is False]
        if room_air:
            return _spread(room_air)
        reading, on_oxygen = status[0]
        if on_oxygen:
            return Missing(f"{reading.evidence.display} was taken on supplemental oxygen; a room-air reading is needed")
        return Missing(f"Whether {reading.evidence.display} was taken on room air (inhaled oxygen unreadable)")

    def _highest(
        self, query: MeasurementQuery, candidates: list[tuple[str, Entry]], window: Window
    ) -> Measurement | Missing:
        """The highest readable value in the window; results that cannot be read leave it open above, never lower."""
        values: list[Measurement] = []
        unread: list[str] = []
        for concept, entry in candidates:
            result = measure(entry, self._analyte(concept), query.unit, self._convert, lower_bounds=True)
            if isinstance(result, Measurement):
                values.append(result)
                if result.doubt:
                    unread.append(result.doubt)
            elif isinstance(result, Missing):
                unread.append(result.reason)
        if not values:
            return Missing(unread[0] if unread else window_text(self._labels(query.concepts), window))
        best = max(values, key=lambda m: m.value)  # the latest of equal values: candidates run newest first
        if not unread:
            return best._replace(high=None, doubt=None)
        return best._replace(high=math.inf, doubt="; ".join(unread))

    # --- derived from several records ---------------------------------------------------------------
    def derived(self, quantity: str, on: dt.date) -> Estimate:
        if on != self._memo_on:
            self._start_memo(on)
        found = self._memo.get(quantity)
        if found is None:
            found = self._memo[quantity] = ESTIMATES[quantity](self, on)
        return found  # type: ignore[return-value]

    # --- helpers -------------------------------------------------------------------------------------
    def _start_memo(self, on: dt.date) -> None:
        """The memo holds the answers for one evaluation date at a time."""
        self._memo.clear()
        self._readings.clear()
        self._memo_on = on

    def _gap(self, kind: RecordKind, types: tuple[str, ...], concepts: frozenset[str]) -> Missing | None:
        """Why records of `kind` cannot be trusted to be complete, if they cannot."""
        unread = [t for t in types if t in self._unreadable] if self._unreadable else None
        if unread:
            return Missing(f"{self._labels(concepts)} ({', '.join(unread)} records could not be read)")
        if kind == _MEDICATION_KIND and self._index.unresolved:
            count = len(self._index.unresolved)
            return Missing(
                f"{self._labels(concepts)} ({count} medication record(s) name a Medication that could not be read)"
            )
        return None

    def _analyte(self, concept_id: str) -> Analyte:
        found = self._analytes.get(concept_id)
        if found is None:
            found = self._analytes[concept_id] = _analyte_of(self._catalog, concept_id)
        return found

    def _labels(self, concepts: frozenset[str]) -> str:
        return " or ".join(self._analyte(c).label for c in sorted(concepts)) or "Record"

    def _matches(self, concepts: frozenset[str], types: tuple[str, ...]) -> list[tuple[str, Entry]]:
        """(concept id, entry) for each distinct entry of `types` under any of `concepts` (sorted ids first); found
        once per patient, as several queries (windows, statuses, units) read the same concepts."""
        key = (concepts, types)
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = self._match(concepts, types)
        return found

    def _match(self, concepts: frozenset[str], types: tuple[str, ...]) -> list[tuple[str, Entry]]:
        if len(concepts) == 1:  # most Latest queries: one analyte, no set to intersect
            (concept,) = concepts
            return [(concept, entry) for entry in self._index.entries(concept) if entry.resource_type in types]
        held = self._held & concepts  # of a query's many concepts (drug lists), the patient has few
        if len(held) < 2:  # most queries: no entry can come twice
            return [
                (concept, entry)
                for concept in held
                for entry in self._index.entries(concept)
                if entry.resource_type in types
            ]
        seen: set[int] = set()
        found = []
        for concept in sorted(held):
            for entry in self._index.entries(concept):
                if entry.resource_type in types and id(entry) not in seen:
                    seen.add(id(entry))
                    found.append((concept, entry))
        return found

    def _record_window(self, query: EventQuery, concept: str, entry: Entry) -> Window:
        """Within N half-lives is N times the record's own drug's half-life (a drug we hold none for: the longest
        of its concept); any other window is the query's."""
        if query.half_lives is None:
            return query.window
        hours = self._catalog.drug_half_life_hours(entry.codings) or self._catalog.half_life_hours(concept)
        assert hours is not None  # the checker refuses half-lives for concepts without them
        return Window(within_days=max(1, math.ceil(query.half_lives * hours / 24)))

    def _result_window(self, query: EventQuery, concept: str) -> Window:
        """Results default to their analyte's look-back: the window that keeps a result fresh."""
        if query.window.within_days is not None:
            return query.window
        lookback = self._catalog.concept(concept).lookback_days
        return query.window if lookback is None else Window(within_days=lookback, before_days=query.window.before_days)

    def _window(self, query: MeasurementQuery) -> Window:
        return _measurement_window(self._catalog, query)

    def _coded(self, system: str, code: str) -> Polarity | None:
        found = self._catalog.result_polarity(system, code)
        return None if found is None else _POLARITIES[found]

    def _coded_answers(self, system: str, code: str) -> Polarity | None:
        found = self._catalog.result_polarity(system, code, answer=True)
        return None if found is None else _POLARITIES[found]

    @staticmethod
    def _convert(value: float, from_unit: str, to_unit: str, analyte: str) -> float | str:
        result = convert(value, from_unit, to_unit, analyte=analyte)
        return result.reason if isinstance(result, NotConvertible) else result

    @staticmethod
    def _convert_plain(value: float, from_unit: str, to_unit: str) -> float | None:
        result = convert(value, from_unit, to_unit)
        return None if isinstance(result, NotConvertible) else result


def _event_order(event: Event) -> tuple[dt.date, str]:
    """Events in the order reports show them: by start (undated first), then reference."""
    return (event.start or dt.date.min, event.evidence.reference)


def _named_only_by_text(entry: Entry) -> str | None:
    """A record the closed list does not hold, whose text names the concept: the trial team checks it."""
    if entry.by_text is None:
        return None
    return f"recorded as '{entry.by_text}' with no code this service maps, to be checked by the trial team"


def _spread(day: list[Measurement]) -> Measurement:
    """Results of one day that disagree (a repeat count, race-specific eGFR pairs) make the value the range they
    span: which one applies is not in the record, so a threshold inside the range is unknown. day[0] is the latest."""
    if len(day) == 1:  # most days: one result
        return day[0]
    low, high = min(m.value for m in day), max(m.value for m in day)
    if math.isclose(low, high, rel_tol=1e-9):  # the same value in two codes or units is not a disagreement
        return day[0]
    shown = ", ".join(m.evidence.display for m in day)
    return day[0]._replace(value=low, high=high, doubt=f"Which of the same-day results applies: {shown}")


@functools.cache
def _measurement_window(catalog: Catalog, query: MeasurementQuery) -> Window:
    """The query's own window, else the shortest default look-back of its concepts (None: any time).
    Cached per (catalog, query): both live as long as the process."""
    if query.window.within_days is not None:
        return query.window
    lookbacks = [days for c in query.concepts if (days := catalog.concept(c).lookback_days) is not None]
    if not lookbacks:
        return query.window
    return Window(within_days=min(lookbacks), before_days=query.window.before_days)
