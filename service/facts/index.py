"""The record indexed by concept, once per request: concept id → the counted resources that carry it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from service.criteria.inputs import RecordKind
from service.facts.counting import counts
from service.facts.history import Timing, observation_timing, point_at, timing_of
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import ResourceType

MEDICATION_TYPES = (
    ResourceType.MEDICATION_REQUEST,
    ResourceType.MEDICATION_STATEMENT,
    ResourceType.MEDICATION_ADMINISTRATION,
)
# The language's kinds of record → the FHIR resource types read for each: the one table between them.
KIND_TYPES: Mapping[RecordKind, tuple[str, ...]] = {
    RecordKind.CONDITION: (ResourceType.CONDITION,),
    RecordKind.OBSERVATION: (ResourceType.OBSERVATION,),
    RecordKind.MEDICATION: MEDICATION_TYPES,
    RecordKind.PROCEDURE: (ResourceType.PROCEDURE,),
    RecordKind.IMMUNIZATION: (ResourceType.IMMUNIZATION,),
}
# Where each resource type keeps its code.
_CODE_FIELD: Mapping[str, str] = {
    ResourceType.CONDITION: "code",
    ResourceType.OBSERVATION: "code",
    ResourceType.PROCEDURE: "code",
    ResourceType.IMMUNIZATION: "vaccineCode",
}


# Resource type -> the code kind its codes are (mappings.catalog CodeKind).
_CODE_KIND: Mapping[str, str] = {
    ResourceType.CONDITION: "condition",
    ResourceType.PROCEDURE: "procedure",
    ResourceType.IMMUNIZATION: "immunization",
    **dict.fromkeys(MEDICATION_TYPES, "medication"),
}


Lookup = Callable[[str, str], frozenset[str]]
Resources = tuple[Mapping[str, Any], ...]
_NONE: frozenset[str] = frozenset()


class CodeLookup(Protocol):
    @property
    def coding_memo(self) -> Mapping[str, Mapping[str, frozenset[str]]]:
        """`concepts_for`'s answers so far, by code then system, as written."""

    def concepts_for(self, system: str, code: str) -> frozenset[str]: ...

    def named_by_text(self, kind: str, text: str) -> frozenset[str]: ...

    def every_record_concepts(self, kind: str, codings: Iterable[tuple[str, str]]) -> frozenset[str]: ...


class Entry:
    """One counted resource under one concept.

    `holder` is where the value lives: the resource itself, or the Observation component whose code matched.
    `by_text`: the record's text, when only the concept's safety net put it here (its codes map to nothing).
    `timing` is read once per resource as the index is built (a plain attribute, not a property: queries read
    it hundreds of times per patient, and nearly every entry is reached by some query).
    """

    __slots__ = ("by_text", "codings", "holder", "reference", "resource", "resource_type", "timing")

    def __init__(
        self,
        resource_type: str,
        resource: Mapping[str, Any],
        holder: Mapping[str, Any],
        timing: Timing,
        reference: str,
        by_text: str | None = None,
        codings: tuple[tuple[str, str], ...] = (),  # closed-world records: (system, code) of what matched
    ) -> None:
        self.resource_type = resource_type
        self.resource = resource
        self.holder = holder
        self.timing = timing
        self.reference = reference
        self.by_text = by_text
        self.codings = codings


# An Entry without its __init__ (the concept index makes one per result, and the call costs a third of its loop):
# every slot is then set where it is made.
_new_entry = object.__new__


def _coded(
    known: Mapping[str, Mapping[str, frozenset[str]]],
    lookup: Lookup,
    codeable: object,
    codings: list[tuple[str, str]] | None = None,
) -> frozenset[str]:
    """The concepts of a CodeableConcept's codings: `known` (the catalog's answers so far) is read first, the
    catalog asked only for a coding it has not seen (it strips and normalises). A `dict` is checked before the
    Mapping test, as JSON gives dicts and the Mapping test costs more than the rest. `codings`, when given, gets
    each coding's (system, code), stripped, in the same pass."""
    found = _NONE
    if type(codeable) is not dict and not isinstance(codeable, Mapping):
        return found
    for coding in codeable.get("coding") or ():
        if type(coding) is dict or isinstance(coding, Mapping):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                by_system = known.get(code)
                concepts = None if by_system is None else by_system.get(system)
                if concepts is None:
                    concepts = lookup(system, code)
                if concepts:
                    found = found | concepts if found else concepts
                if codings is not None:
                    codings.append((system.strip(), code.strip()))
    return found


def _text(*codeable: object) -> str:
    """A CodeableConcept's text and coding displays, as one string for the safety nets (read for every record
    whose codes map to nothing: a `dict` is checked before the Mapping test, which costs more than the rest)."""
    parts: list[str] = []
    for concept in codeable:
        if type(concept) is dict or isinstance(concept, Mapping):
            if (text := concept.get("text")) and (shown := str(text)):
                parts.append(shown)
            for coding in concept.get("coding") or ():  # one loop, no comprehension: no frame per record
                if (
                    (type(coding) is dict or isinstance(coding, Mapping))
                    and (display := coding.get("display"))
                    and (shown := str(display))
                ):
                    parts.append(shown)
    return " | ".join(parts)


def _local_id(reference: str) -> str:
    """ "Medication/abc", "urn:uuid:abc", "https://x/fhir/Medication/abc/_history/2" → "abc"."""
    reference = reference.split("/_history/", 1)[0]
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:") :]
    return reference.rsplit("/", 1)[-1]


def _medication_codeables(medication: Mapping[str, Any]) -> list[object]:
    codeables: list[object] = [medication.get("code")]
    for ingredient in medication.get("ingredient") or ():
        if isinstance(ingredient, Mapping):
            codeables.append(ingredient.get("itemCodeableConcept"))
    return codeables


class ConceptIndex:
    """Built once per PatientRecord; lookups are dict reads."""

    __slots__ = ("_by_concept", "unresolved")

    def __init__(self, record: PatientRecord, catalog: CodeLookup) -> None:
        self._by_concept: dict[str, list[Entry]] = {}
        # counted medication records whose medicationReference names no Medication in the record
        self.unresolved: list[str] = []
        for resource_type, add in _BUILDERS.items():
            resources = record.of_type(resource_type)
            if resources:
                # the type as a plain str: an Enum member is written into every reference through Python code
                add(self, catalog, str(resource_type), resources, record)

    @classmethod
    def without_records(cls, unresolved: list[str]) -> ConceptIndex:
        """An index of no record but with the same unresolved medication references."""
        index = cls.__new__(cls)
        index._by_concept = {}
        index.unresolved = list(unresolved)
        return index

    def _observations(
        self, catalog: CodeLookup, resource_type: str, resources: Resources, record: PatientRecord
    ) -> None:
        """Each result under the concepts of its code and of each component's code. Whether it counts is only
        asked when one may map (many results map to nothing); a result that maps to nothing makes no entry."""
        known, lookup, by_concept = catalog.coding_memo, catalog.concepts_for, self._by_concept
        # status as written -> whether a result counts: an Observation counts by its status alone (`counts`), and a
        # patient's results share one or two statuses, so `counts` runs once per status, not once per result
        counted: dict[str, bool] = {}
        for resource in resources:
            # nearly every result: one coding the catalog has seen, read here in a few C reads; any other shape (no
            # code, several codings, a coding the memo lacks, a value of another type) falls to `_coded`
            try:
                (coding,) = resource["code"]["coding"]
                found = known[coding["code"]][coding["system"]]
            except (KeyError, TypeError, ValueError):
                found = None
            if found is None:
                found = _coded(known, lookup, resource.get("code"))
            components = resource.get("component")
            if not (found or components):
                continue
            status = resource.get("status")
            if type(status) is str:
                status_counts = counted.get(status)
                if status_counts is None:
                    status_counts = counted[status] = counts(resource_type, resource)
            else:
                status_counts = counts(resource_type, resource)
            if not status_counts:
                continue
            reference = f"{resource_type}/{resource.get('id', '')}"
            # nearly every result is dated by an effectiveDateTime: its Timing read here by the cached parse, the
            # general walk (`observation_timing`, a Python call per result) only for another shape
            written = resource.get("effectiveDateTime")
            timing = (type(written) is str and point_at(written)) or observation_timing(resource)
            if found:
                entry = _new_entry(Entry)  # Entry(resource_type, resource, resource, timing, reference)
                entry.resource_type = resource_type
                entry.resource = entry.holder = resource
                entry.timing = timing
                entry.reference = reference
                entry.by_text = None
                entry.codings = ()
                for concept in found:
                    by_concept.setdefault(concept, []).append(entry)
            for component in components or ():
                if isinstance(component, Mapping) and (found := _coded(known, lookup, component.get("code"))):
                    entry = Entry(resource_type, resource, component, timing, reference)
                    for concept in found:
                        by_concept.setdefault(concept, []).append(entry)

    def _closed_records(
        self, catalog: CodeLookup, resource_type: str, resources: Resources, record: PatientRecord
    ) -> None:
        """Conditions, procedures, immunizations: each counted record under its concepts (`_add_closed`)."""
        field = _CODE_FIELD[resource_type]
        for resource in resources:
            if counts(resource_type, resource):
                self._add_closed(catalog, resource_type, resource, [resource.get(field)])

    def _medication_records(
        self, catalog: CodeLookup, resource_type: str, resources: Resources, record: PatientRecord
    ) -> None:
        """Medication records under their drug's concepts; one naming a Medication the record lacks is unresolved."""
        medications = {str(m["id"]): m for m in record.of_type(ResourceType.MEDICATION) if isinstance(m.get("id"), str)}
        for resource in resources:
            if counts(resource_type, resource):
                codeables = self._medication(resource, medications)
                if codeables is None:
                    self.unresolved.append(f"{resource_type}/{resource.get('id', '')}")
                    continue
                self._add_closed(catalog, resource_type, resource, codeables)

    @staticmethod
    def _medication(resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]) -> list[object] | None:
        """medicationCodeableConcept, or the codes of the referenced Medication (contained or in the record).

        None when a medicationReference cannot be resolved: the record exists but its drug is unknown.
        A referenced Medication that is entered-in-error gives no codes (the record matches nothing).
        """
        if "medicationCodeableConcept" in resource:
            return [resource["medicationCodeableConcept"]]
        ref = resource.get("medicationReference")
        reference = ref.get("reference") if isinstance(ref, Mapping) else None
        if not isinstance(reference, str) or not reference:
            return [] if ref is None else None
        if reference.startswith("#"):
            for contained in resource.get("contained") or ():
                if (
                    isinstance(contained, Mapping)
                    and contained.get("resourceType") == ResourceType.MEDICATION
                    and contained.get("id") == reference[1:]
                ):
                    return _medication_codeables(contained) if counts(ResourceType.MEDICATION, contained) else []
            return None
        medication = medications.get(_local_id(reference))
        if medication is None:
            return None
        return _medication_codeables(medication) if counts(ResourceType.MEDICATION, medication) else []

    def _add_closed(
        self, catalog: CodeLookup, resource_type: str, resource: Mapping[str, Any], codeables: list[object]
    ) -> None:
        """A closed-world record under its coded concepts, the concepts that hold every record of its kind, and,
        when its codes map to nothing, the concepts whose safety net its text names."""
        kind = _CODE_KIND[resource_type]
        known, lookup = catalog.coding_memo, catalog.concepts_for
        found = _NONE
        written: list[tuple[str, str]] = []
        for codeable in codeables:
            coded = _coded(known, lookup, codeable, written)
            found = found | coded if found else coded
        codings = tuple(written)
        found |= catalog.every_record_concepts(kind, codings)
        if found:
            self._add(resource_type, resource, resource, found, codings=codings)
        else:
            text = _text(*codeables)
            named = catalog.named_by_text(kind, text) if text else set()
            self._add(resource_type, resource, resource, named, text, codings)

    def _add(
        self,
        resource_type: str,
        resource: Mapping[str, Any],
        holder: Mapping[str, Any],
        concepts: Iterable[str],
        by_text: str | None = None,
        codings: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if not concepts:
            return
        reference = f"{resource_type}/{resource.get('id', '')}"
        entry = Entry(resource_type, resource, holder, timing_of(resource_type, resource), reference, by_text, codings)
        for concept in concepts:
            self._by_concept.setdefault(concept, []).append(entry)

    def concepts(self) -> AbstractSet[str]:
        """Every concept some entry is under (a live view)."""
        return self._by_concept.keys()

    def entries(self, concept: str) -> list[Entry]:
        return self._by_concept.get(concept, [])


# Resource type → how its records enter the index, in the order entries are added (it decides the order of
# a concept's entries, which reports show).
_Builder = Callable[[ConceptIndex, CodeLookup, str, Resources, PatientRecord], None]
_BUILDERS: Mapping[str, _Builder] = {
    ResourceType.CONDITION: ConceptIndex._closed_records,
    ResourceType.OBSERVATION: ConceptIndex._observations,
    ResourceType.PROCEDURE: ConceptIndex._closed_records,
    ResourceType.IMMUNIZATION: ConceptIndex._closed_records,
    **dict.fromkeys(MEDICATION_TYPES, ConceptIndex._medication_records),
}
