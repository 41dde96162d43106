"""Every Synthea sample bundle builds PatientFacts and answers every kind of question without error."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mappings.catalog import RESOURCE_KINDS, load_catalog
from service.criteria.inputs import (
    EventQuery,
    EventStatus,
    Measurement,
    MeasurementQuery,
    Missing,
    Polarity,
    Window,
)
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_bundle
from tests.paths import SYNTHEA

BUNDLES = sorted(SYNTHEA.glob("*.json"))
ON = dt.date(2026, 11, 23)


@pytest.fixture(scope="module", params=BUNDLES, ids=lambda p: p.stem)
def facts(request: pytest.FixtureRequest) -> PatientFacts:
    bundle = json.loads(Path(request.param).read_text(encoding="utf-8"))
    return PatientFacts(record_from_bundle(bundle), load_catalog())


def test_bundles_present() -> None:
    assert len(BUNDLES) == 11


def test_patient_inputs(facts: PatientFacts) -> None:
    born = facts.birth_date_range()
    assert isinstance(born, tuple)
    assert born[0] == born[1]
    assert facts.sex() in ("female", "male")


def test_every_concept_answers(facts: PatientFacts) -> None:
    catalog = load_catalog()
    windows = (Window(), Window(within_days=90), Window(before_days=180), Window(within_days=3650, before_days=30))
    for concept_id in sorted(catalog.concept_ids()):
        concept = catalog.concept(concept_id)
        concepts = frozenset({concept_id})
        for kind, kinds in RESOURCE_KINDS.items():
            if concept.kinds.isdisjoint(kinds):
                continue
            for window in windows:
                for status in EventStatus:
                    found = facts.events(EventQuery(kind, concepts, window, status), ON)
                    assert isinstance(found, tuple), found  # Synthea references all resolve
            if kind == "Observation":
                for polarity in Polarity:
                    assert isinstance(facts.events(EventQuery(kind, concepts, polarity=polarity), ON), tuple)
        if concept.unit is not None:
            for window in (Window(), Window(within_days=36500)):
                for unit in (concept.unit, "ULN"):
                    answer = facts.latest(MeasurementQuery(concepts, unit, window), ON)
                    assert isinstance(answer, Measurement | Missing)
                    if isinstance(answer, Measurement):
                        assert answer.evidence.reference.startswith("Observation/")
                        assert answer.taken is not None
                        assert answer.taken <= ON


def test_known_facts_of_the_samples() -> None:
    """A few facts checked by hand in the bundles (see shared/data/synthea/SOURCES.md)."""
    catalog = load_catalog()
    by_stem = {p.stem: p for p in BUNDLES}
    first = PatientFacts(record_from_bundle(json.loads(by_stem["01-randall-stroman"].read_text())), catalog)
    ra = first.events(EventQuery("Condition", frozenset({"rheumatoid-arthritis"}), status=EventStatus.ACTIVE), ON)
    assert isinstance(ra, tuple)
    assert [e.start for e in ra] == [dt.date(1987, 10, 11)]
    weight = first.latest(MeasurementQuery(frozenset({"body-weight"}), "kg", Window(within_days=36500)), ON)
    assert isinstance(weight, Measurement)
    assert weight.taken == dt.date(2020, 9, 10)
    assert weight.value == pytest.approx(107.48, abs=0.01)
    recent = first.latest(MeasurementQuery(frozenset({"body-weight"}), "kg"), ON)
    assert recent == Missing("Body weight within the last 180 days")
