"""Bundle → :class:`PatientRecord`: a plain dict walk, fast enough for 3.5 MB Synthea bundles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from service.fhir_access.errors import BundleError
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import READ_TYPES, UNOWNED_TYPES, ResourceType

ACCEPTED_BUNDLE_TYPES = frozenset({"collection", "searchset", "batch", "transaction"})


def record_from_bundle(bundle: Mapping[str, Any]) -> PatientRecord:
    """The one Patient of ``bundle`` and its resources of :data:`READ_TYPES`.

    Accepts Bundle types collection, searchset, batch and transaction. Searchset entries with
    ``search.mode == "outcome"`` are skipped; entries without a resource (e.g. a batch DELETE) too.
    Raises :class:`BundleError` when the bundle is malformed or holds no or several Patients.
    """
    if not isinstance(bundle, Mapping):
        raise BundleError("the body is not a JSON object")
    if bundle.get("resourceType") != "Bundle":
        raise BundleError("the body is not a FHIR Bundle (resourceType must be 'Bundle')")
    bundle_type = bundle.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in ACCEPTED_BUNDLE_TYPES:
        raise BundleError(
            f"unsupported Bundle type {bundle_type!r}; expected one of collection, searchset, batch, transaction"
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry must be a list")

    patients: list[tuple[Mapping[str, Any], str | None]] = []
    others: list[Mapping[str, Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise BundleError(f"Bundle.entry[{index}] is not an object")
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, Mapping):
            raise BundleError(f"Bundle.entry[{index}].resource is not an object")
        search = entry.get("search")
        if isinstance(search, Mapping) and search.get("mode") == "outcome":
            continue
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            raise BundleError(f"Bundle.entry[{index}].resource has no resourceType")
        if resource_type == ResourceType.PATIENT:
            full_url = entry.get("fullUrl")
            patients.append((resource, full_url if isinstance(full_url, str) else None))
        elif resource_type in READ_TYPES:
            others.append(resource)

    if not patients:
        raise BundleError("the Bundle holds no Patient resource")
    if len(patients) > 1:
        raise BundleError(f"the Bundle holds {len(patients)} Patient resources; exactly one is required")
    patient, full_url = patients[0]
    patient = _with_id(patient, full_url)
    return _build(patient, others, _patient_aliases(patient, full_url))


def record_from_resources(patient: Mapping[str, Any], resources: Iterable[Mapping[str, Any]]) -> PatientRecord:
    """Group ``resources`` (e.g. search results) by type, keeping the patient's resources of READ_TYPES."""
    _check_patient(patient)
    return _build(patient, resources, _patient_aliases(patient, None))


def record_from_grouped(
    patient: Mapping[str, Any], grouped: Mapping[str, Sequence[Mapping[str, Any]]]
) -> PatientRecord:
    """The record of resources already grouped by type (plain strings), each known by the caller to be one that
    record_from_resources keeps: of READ_TYPES and the patient's (`subject.reference` is `Patient/<id>`) or
    referenced by one (a Medication). The same record, without a second pass over every resource (a population
    run checks each line's subject as it parses it)."""
    _check_patient(patient)
    return _record(patient, grouped)


def _check_patient(patient: Mapping[str, Any]) -> None:
    if not isinstance(patient, Mapping) or patient.get("resourceType") != ResourceType.PATIENT:
        raise BundleError("expected a Patient resource")
    if not isinstance(patient.get("id"), str) or not patient["id"]:
        raise BundleError("the Patient has no id")


def _with_id(patient: Mapping[str, Any], full_url: str | None) -> Mapping[str, Any]:
    patient_id = patient.get("id")
    if isinstance(patient_id, str) and patient_id:
        return patient
    if full_url and full_url.startswith("urn:uuid:") and len(full_url) > len("urn:uuid:"):
        # Transaction bundles may leave the id to the server; the urn:uuid stands in for it.
        return {**patient, "id": full_url[len("urn:uuid:") :]}
    raise BundleError("the Patient has no id and no urn:uuid fullUrl")


def _patient_aliases(patient: Mapping[str, Any], full_url: str | None) -> tuple[frozenset[str], str]:
    """Exact reference strings meaning this patient, plus the ``/Patient/<id>`` suffix of absolute ones."""
    local = f"Patient/{patient['id']}"
    exact = {local}
    if full_url:
        exact.add(full_url)
    return frozenset(exact), "/" + local


def _belongs(resource: Mapping[str, Any], aliases: tuple[frozenset[str], str]) -> bool:
    ref = resource.get("subject")
    if ref is None:
        ref = resource.get("patient")
    if type(ref) is not dict and not isinstance(ref, Mapping):  # the type first: see _build
        return False
    reference = ref.get("reference")
    if not isinstance(reference, str):
        return False
    exact, suffix = aliases
    if reference in exact:
        return True
    # Absolute references (https://server/fhir/Patient/<id>, optionally with a version).
    if "://" in reference:
        base = reference.split("/_history/", 1)[0]
        return base.endswith(suffix)
    return reference.split("/_history/", 1)[0] in exact


def _build(
    patient: Mapping[str, Any],
    resources: Iterable[Mapping[str, Any]],
    aliases: tuple[frozenset[str], str],
) -> PatientRecord:
    """The patient's resources of READ_TYPES, grouped by type, in one pass (a resource of another shape or type is
    left out). A dict is told by its type before the Mapping check: JSON gives dicts, and an ABC check costs more
    than the rest of a resource's grouping."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    exact = aliases[0]
    for resource in resources:
        if type(resource) is not dict and not isinstance(resource, Mapping):
            continue
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in READ_TYPES:
            continue
        subject = resource.get("subject")  # the usual form, `{"reference": "Patient/<id>"}`, read inline
        if (
            (type(subject) is dict and type(reference := subject.get("reference")) is str and reference in exact)
            or resource_type in UNOWNED_TYPES
            or _belongs(resource, aliases)
        ):
            try:  # not setdefault: its default list, made and dropped for every resource, cost more than the lookup
                grouped[resource_type].append(resource)
            except KeyError:
                grouped[resource_type] = [resource]
    return _record(patient, grouped)


def _record(patient: Mapping[str, Any], grouped: Mapping[str, Sequence[Mapping[str, Any]]]) -> PatientRecord:
    return PatientRecord(patient=patient, resources={k: tuple(v) for k, v in grouped.items()})
