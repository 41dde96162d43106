"""The concept index reads a result's code through its fast path (one coding the catalog has seen) exactly as the
general reading of a CodeableConcept (`_coded`) does, whatever shape the code has."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.catalog import load_catalog
from service.facts.index import ConceptIndex, _coded
from service.fhir_access.bundle import record_from_resources

PATIENT = {"resourceType": "Patient", "id": "p"}
LOINC = "http://loinc.org"
# known codes (hemoglobin, creatinine), one with spaces the catalog strips, unknown ones, values of other types
_values = st.sampled_from(
    [LOINC, " http://loinc.org ", "http://snomed.info/sct", "718-7", "2160-0", " 718-7", "0000-0", "", 5, None, ["x"]]
)
_coding = st.one_of(
    st.sampled_from([{"system": LOINC, "code": "718-7"}, {"system": LOINC, "code": "2160-0"}, {"system": LOINC}]),
    st.fixed_dictionaries({}, optional={"system": _values, "code": _values}),
    st.sampled_from(["718-7", 5, None, ["x"], {"718-7": LOINC}]),
)
# "coding" as something else than a list (the reading fails on a number in both paths alike)
_codings = st.one_of(
    st.lists(_coding, max_size=3),
    st.sampled_from([{"system": LOINC, "code": "718-7"}, "718-7", None, {"718-7": LOINC}]),
)
_code = st.one_of(
    st.fixed_dictionaries({}, optional={"coding": _codings, "text": st.just("Hemoglobin")}),
    st.sampled_from([None, "718-7", ["718-7"], 7]),
)


@settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(_code, min_size=1, max_size=6))
def test_each_result_is_under_the_concepts_its_code_reads_as(codes: list[Any]) -> None:
    catalog = load_catalog()
    results = [
        {"resourceType": "Observation", "id": f"o{i}", "subject": {"reference": "Patient/p"}, "status": "final"}
        | ({} if code is None else {"code": code})
        for i, code in enumerate(codes)
    ]
    record = record_from_resources(PATIENT, results)
    assert len(record.of_type("Observation")) == len(results)
    for _ in range(2):  # before and after the catalog's memo has seen the codes
        index = ConceptIndex(record, catalog)
        for result in record.of_type("Observation"):
            under = {c for c in index.concepts() if any(e.resource is result for e in index.entries(c))}
            assert under == _coded(catalog.coding_memo, catalog.concepts_for, result.get("code")), result
            assert under == _coded({}, catalog._concepts_for, result.get("code")), result  # no memo read at all
