"""The concept index reads each result's status once per patient and status as written, and its date through the
cached parse of an effectiveDateTime, and makes each entry without Entry's __init__: what it keeps must be what
`counts`, `observation_timing` and the constructor say of each result on its own, whatever statuses and dates the
results carry."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.catalog import load_catalog
from service.facts.counting import counts
from service.facts.history import observation_timing
from service.facts.index import ConceptIndex, Entry
from service.fhir_access.bundle import record_from_resources

PATIENT = {"resourceType": "Patient", "id": "p"}
HEMOGLOBIN = {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}
_status = st.sampled_from(
    ["final", "Final ", "amended", "entered-in-error", " Entered-In-Error", "cancelled", "registered", "", 5, None, []]
)
_date = st.sampled_from(["2026-11-25", "2026-11", "2026", "2026-11-25T10:00:00+05:00", "not a date", "", 7, None])
_result = st.fixed_dictionaries(
    {},
    optional={
        "status": _status,
        "effectiveDateTime": _date,
        "effectiveInstant": _date,
        "effectivePeriod": st.fixed_dictionaries({}, optional={"start": _date, "end": _date}),
        "issued": _date,
    },
)


@settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(_result, min_size=1, max_size=8))
def test_each_result_is_kept_and_dated_as_counts_and_observation_timing_say(shapes: list[dict[str, Any]]) -> None:
    results = [
        shape
        | {"resourceType": "Observation", "id": f"o{i}", "subject": {"reference": "Patient/p"}, "code": HEMOGLOBIN}
        for i, shape in enumerate(shapes)
    ]
    index = ConceptIndex(record_from_resources(PATIENT, results), load_catalog())
    entries = index.entries("hemoglobin")
    assert [e.resource for e in entries] == [r for r in results if counts("Observation", r)]
    assert [e.timing for e in entries] == [observation_timing(e.resource) for e in entries]
    for entry in entries:  # made without Entry's __init__: every slot as the constructor sets it
        made = Entry("Observation", entry.resource, entry.resource, entry.timing, f"Observation/{entry.resource['id']}")
        assert [getattr(entry, name) for name in Entry.__slots__] == [getattr(made, name) for name in Entry.__slots__]
