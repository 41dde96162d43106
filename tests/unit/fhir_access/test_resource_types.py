"""The fetch table: the prefetch templates EHRs cache stay what they were, and every read type has a search."""

from __future__ import annotations

import pytest

from cds_hooks.discovery import PREFETCH
from service.fhir_access.resource_types import READ_TYPES, SEARCH_OF, UNOWNED_TYPES, ResourceType

# The descriptor as EHRs cache it: a change here breaks their configuration (medicationAdministrations was added
# on 2026-12-07; an EHR that does not send it has administrations fetched from its FHIR server, or named unreadable.
# The statements' and administrations' _include of their Medication was added the same day: an EHR that ignores
# it leaves those references unresolved, so the criteria reading them stay unknown, never decided wrongly).
CACHED_BY_EHRS = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}"
    "&_include=MedicationAdministration:medication",
    "procedures": "Procedure?patient={{context.patientId}}",
    "immunizations": "Immunization?patient={{context.patientId}}",
}


def test_prefetch_templates_are_the_ones_ehrs_cached() -> None:
    assert PREFETCH == CACHED_BY_EHRS
    assert list(PREFETCH) == list(CACHED_BY_EHRS)


def test_every_read_type_is_supplied_by_one_search() -> None:
    assert set(SEARCH_OF) == READ_TYPES
    assert ResourceType.PATIENT not in READ_TYPES  # read, never searched


def test_an_included_type_comes_with_the_first_search_that_includes_it() -> None:
    assert {ResourceType.MEDICATION} == UNOWNED_TYPES
    search = SEARCH_OF[ResourceType.MEDICATION]
    assert search.resource_type is ResourceType.MEDICATION_REQUEST
    assert search.params("p1") == {"patient": "p1", "_include": "MedicationRequest:medication"}


@pytest.mark.parametrize(
    ("resource_type", "key"),
    [
        (ResourceType.MEDICATION_STATEMENT, "medicationStatements"),
        (ResourceType.MEDICATION_ADMINISTRATION, "medicationAdministrations"),
    ],
)
def test_every_medication_record_brings_the_medication_it_references(resource_type: ResourceType, key: str) -> None:
    search = SEARCH_OF[resource_type]
    assert search.prefetch_key == key
    assert search.params("p1") == {"patient": "p1", "_include": f"{resource_type}:medication"}
