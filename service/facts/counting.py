"""Which records count (clinical-policies.md, "Which records count"): one table, one function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.fhir_access.resource_types import ResourceType

# resource type -> values of `status` that make a record not count.
IGNORED_STATUS: Mapping[str, frozenset[str]] = {
    ResourceType.CONDITION: frozenset({"entered-in-error"}),
    ResourceType.OBSERVATION: frozenset({"cancelled", "entered-in-error", "registered"}),
    ResourceType.MEDICATION_REQUEST: frozenset({"cancelled", "entered-in-error", "draft"}),
    ResourceType.MEDICATION_STATEMENT: frozenset({"not-taken", "entered-in-error"}),
    # Not named in the policy; read like Procedure (a not-done administration gave nothing).
    ResourceType.MEDICATION_ADMINISTRATION: frozenset({"not-done", "entered-in-error"}),
    ResourceType.MEDICATION: frozenset({"entered-in-error"}),
    ResourceType.PROCEDURE: frozenset({"not-done", "entered-in-error"}),
    ResourceType.IMMUNIZATION: frozenset({"not-done", "entered-in-error"}),
}
IGNORED_CONDITION_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_CONDITION = ResourceType.CONDITION  # asked of every record: a module name, not a read off the Enum class


def codes_of(concept: object) -> list[str]:
    """Codes of a CodeableConcept (any system), lower-cased; [] if absent."""
    if type(concept) is not dict and not isinstance(concept, Mapping):  # the type first: the ABC check costs more
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    found: list[str] = []
    for coding in codings:  # a loop, not a comprehension: no frame per call (twice per condition)
        if (type(coding) is dict or isinstance(coding, Mapping)) and isinstance(code := coding.get("code"), str):
            found.append(code.strip().lower())
    return found


# (resource type, status as written) -> whether IGNORED_STATUS ignores it: a record's status is one of a few
# spellings, and normalising it costs more than a dict read. Emptied when full (statuses come from the input).
_STATUS_IGNORED: dict[tuple[str, str], bool] = {}
_NO_STATUS: frozenset[str] = frozenset()


def counts(resource_type: str, resource: Mapping[str, Any]) -> bool:
    """Whether `resource` counts at all; everything else is ignored as if absent."""
    status = resource.get("status")
    if isinstance(status, str):
        ignored = _STATUS_IGNORED.get((resource_type, status))
        if ignored is None:
            if len(_STATUS_IGNORED) >= 1024:
                _STATUS_IGNORED.clear()
            ignored = status.strip().lower() in IGNORED_STATUS.get(resource_type, _NO_STATUS)
            _STATUS_IGNORED[resource_type, status] = ignored
        if ignored:
            return False
    if resource_type == _CONDITION:
        verification = codes_of(resource.get("verificationStatus"))
        if not IGNORED_CONDITION_VERIFICATION.isdisjoint(verification):
            return False
    return True


TENTATIVE_CONDITION_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})


def tentative(resource_type: str, resource: Mapping[str, Any]) -> str | None:
    """Why a counted record cannot decide on its own: an unconfirmed diagnosis is neither there nor absent."""
    if resource_type != _CONDITION:
        return None
    verification = codes_of(resource.get("verificationStatus"))
    found = next((code for code in verification if code in TENTATIVE_CONDITION_VERIFICATION), None)
    return None if found is None else f"diagnosis recorded as {found}, needs confirmation"
