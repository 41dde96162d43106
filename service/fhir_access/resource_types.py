"""The FHIR resource types the service reads, and the one table of how a patient's resources are fetched.

The EHR's prefetch templates (discovery), the gap-filling searches (client) and the record's grouping (bundle)
all read `SEARCHES`, so a type added here is prefetched, searched and kept alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResourceType(StrEnum):
    """Equal to the `resourceType` strings of the JSON, so records are grouped and looked up by either."""

    PATIENT = "Patient"
    CONDITION = "Condition"
    OBSERVATION = "Observation"
    MEDICATION_REQUEST = "MedicationRequest"
    MEDICATION_STATEMENT = "MedicationStatement"
    MEDICATION_ADMINISTRATION = "MedicationAdministration"
    MEDICATION = "Medication"
    PROCEDURE = "Procedure"
    IMMUNIZATION = "Immunization"


@dataclass(frozen=True, slots=True)
class Search:
    """One `patient=<id>` search, offered to the EHR as a prefetch template under `prefetch_key`.

    `include`: a referenced type fetched along (`_include`), which belongs to no patient itself.
    """

    resource_type: ResourceType
    prefetch_key: str
    include: tuple[ResourceType, str] | None = None  # (the type, its _include parameter)

    @property
    def types(self) -> tuple[ResourceType, ...]:
        """The types this search supplies: its own and the one it includes."""
        return (self.resource_type,) if self.include is None else (self.resource_type, self.include[0])

    def params(self, patient_id: str) -> dict[str, str]:
        params = {"patient": patient_id}
        if self.include is not None:
            params["_include"] = self.include[1]
        return params

    def prefetch_template(self) -> str:
        query = "&".join(f"{name}={value}" for name, value in self.params("{{context.patientId}}").items())
        return f"{self.resource_type}?{query}"


SEARCHES: tuple[Search, ...] = (
    Search(ResourceType.CONDITION, "conditions"),
    Search(ResourceType.OBSERVATION, "observations"),
    Search(
        ResourceType.MEDICATION_REQUEST,
        "medicationRequests",
        include=(ResourceType.MEDICATION, "MedicationRequest:medication"),
    ),
    # Statements and administrations name their drug by a Medication reference as often as requests do: without
    # the Medication, a medication criterion reading them can only be unknown.
    Search(
        ResourceType.MEDICATION_STATEMENT,
        "medicationStatements",
        include=(ResourceType.MEDICATION, "MedicationStatement:medication"),
    ),
    # Infusions given in clinic (rituximab, cyclophosphamide) may be recorded only as administrations.
    Search(
        ResourceType.MEDICATION_ADMINISTRATION,
        "medicationAdministrations",
        include=(ResourceType.MEDICATION, "MedicationAdministration:medication"),
    ),
    Search(ResourceType.PROCEDURE, "procedures"),
    Search(ResourceType.IMMUNIZATION, "immunizations"),
)
SEARCH_OF: dict[ResourceType, Search] = {t: s for s in reversed(SEARCHES) for t in s.types}
"""The search that supplies each type (an included type: the first search that brings it; the others bring
the Medications their own records reference)."""

PREFETCHED: dict[str, Search] = {s.prefetch_key: s for s in SEARCHES}
"""The searches the EHR is asked to prefetch, by prefetch key, in the descriptor's order."""
READ_TYPES: frozenset[ResourceType] = frozenset(SEARCH_OF)
"""What a record keeps of a bundle or an export; every other type is dropped unread."""
UNOWNED_TYPES: frozenset[ResourceType] = frozenset(s.include[0] for s in SEARCHES if s.include is not None)
"""Types that belong to no patient themselves but are referenced by resources that do."""
