"""A group of medication records' covered days, against the days counted one by one: surely the days the certain
records prove, at most the days any record may cover (none known when a record has no date)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from service.criteria.evaluator import _group_exposure
from service.criteria.inputs import Course, Event, Evidence

DAY = dt.date(2026, 1, 1)


@st.composite
def _events(draw: st.DrawFn) -> Event:
    first, proven, early, late = (draw(st.integers(0, 40)) for _ in range(4))
    certain = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        course = None  # a record without a date
    else:
        start = DAY + dt.timedelta(days=first)
        # exact (the proven days are all it may cover) or wider on either side
        exact = draw(st.booleans())
        course = Course(
            start,
            start + dt.timedelta(days=proven),
            start if exact else start - dt.timedelta(days=early),
            start + dt.timedelta(days=proven if exact else proven + late),
        )
    return Event(Evidence("MedicationRequest/x", "x"), None, None, certain=certain, course=course)


def _days(periods: list[tuple[dt.date, dt.date]]) -> float:
    return float(len({first + dt.timedelta(days=d) for first, last in periods for d in range((last - first).days + 1)}))


@given(st.lists(_events(), max_size=6))
def test_covered_days_are_the_days_counted_one_by_one(events: list[Event]) -> None:
    low, high, _, missing = _group_exposure(events, "x")
    dated = [e.course for e in events if e.course is not None]
    assert low == _days([(c.first, c.proven_last) for e in events if e.certain and (c := e.course) is not None])
    if len(dated) < len(events):
        assert high is None
    else:
        assert high == _days([(c.earliest_first, c.latest_last) for c in dated])
    open_ended = sum(1 for e in events if e.course is not None and not (e.certain and e.course.exact))
    assert any(m.startswith("How long") for m in missing) == bool(open_ended)
