"""Prefetch first, then fetch only the gaps from the EHR's FHIR server (allow-listed, time-boxed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_hooks.models import HookRequest
from service.fhir_access.bundle import record_from_resources
from service.fhir_access.client import FhirClient
from service.fhir_access.errors import BundleError, FhirError, FhirServerNotAllowed
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import PREFETCHED, ResourceType


@dataclass(frozen=True, slots=True)
class GatheredRecord:
    record: PatientRecord | None  # None: the patient could not be read at all
    unreadable: frozenset[str]  # resource types that could not be read: their criteria become unknown
    problems: tuple[str, ...]  # sentences for the warning card (no PHI, no tokens)


def _entries(bundle: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError(f"prefetch.{key}.entry must be a list")
    # `dict`, not `Mapping`: the body is parsed JSON, and an ABC check costs ~10x as much per entry
    return [
        resource
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(resource := entry.get("resource"), dict)
        and not (isinstance(search := entry.get("search"), dict) and search.get("mode") == "outcome")
    ]


def _from_prefetch(
    request: HookRequest, patient_id: str
) -> tuple[Mapping[str, Any] | None, list[Any], set[ResourceType]]:
    """Patient, resources and the resource types the prefetch did not supply."""
    prefetch = request.prefetch or {}
    patient = prefetch.get("patient")
    if not isinstance(patient, Mapping) or (patient.get("resourceType"), patient.get("id")) != (
        ResourceType.PATIENT,
        patient_id,
    ):
        patient = None
    resources: list[Any] = []
    missing: set[ResourceType] = set()
    for key, search in PREFETCHED.items():
        value = prefetch.get(key)
        if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
            resources.extend(_entries(value, key))
        else:
            missing.add(search.resource_type)
    return patient, resources, missing


async def gather_record(
    request: HookRequest,
    fhir: FhirClient,
    *,
    budget_seconds: float,
    embedded: Mapping[str, PatientRecord],
) -> GatheredRecord:
    """Raises FhirServerNotAllowed when a fetch is needed from a server outside the allow-list."""
    patient_id = request.patient_view.patient_id
    patient, resources, missing = _from_prefetch(request, patient_id)
    if patient is not None and not missing:
        return GatheredRecord(record_from_resources(patient, resources), frozenset(), ())
    if request.fhir_server is None:
        demo = embedded.get(patient_id)
        if demo is not None and patient is None and not resources:
            return GatheredRecord(demo, frozenset(), ())
        if patient is None:
            return GatheredRecord(
                None, frozenset(), ("The patient could not be read: no prefetch and no FHIR server.",)
            )
        unread = frozenset(missing)
        return GatheredRecord(
            record_from_resources(patient, resources),
            unread,
            (f"Not supplied by the EHR and no FHIR server to ask: {', '.join(sorted(unread))}.",),
        )
    base = str(request.fhir_server)
    fhir.check_allowed(base)
    token = request.fhir_authorization.access_token.get_secret_value() if request.fhir_authorization else None
    wanted = sorted(missing)
    try:
        fetched, fetch_problems = await fhir.fetch_record(
            base, patient_id, token, wanted, budget_seconds=budget_seconds, patient=patient, known=resources
        )
    except FhirServerNotAllowed:
        raise
    except FhirError as exc:
        return GatheredRecord(None, frozenset(), (f"The patient could not be read from the FHIR server ({exc}).",))
    unreadable = frozenset(p.resource_type for p in fetch_problems)
    problems = tuple(f"{p.resource_type}: {p.message}" for p in fetch_problems)
    return GatheredRecord(fetched, unreadable, problems)
