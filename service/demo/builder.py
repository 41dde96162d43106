"""Patient shorthand (YAML) → realistic FHIR R4 resources and transaction Bundles.

One builder serves the demo patients and the trial scenarios, so what the tests screen is what the demo
uploads. Dates may be absolute ("2026-11-01") or relative to the evaluation date ("-30d", "-6mo", "-2y").
Every resource gets a stable id and identifier, so uploading a bundle twice updates, never duplicates (PUT).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

IDENTIFIER_SYSTEM = "urn:trial-screen:demo"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
_RELATIVE = re.compile(r"^([+-]\d+)(d|w|mo|y)$")
_POLARITY_CODES = {
    "positive": ("10828004", "Positive", "POS"),
    "negative": ("260385009", "Negative", "NEG"),
}
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def resolve_date(value: Any, on: dt.date) -> str:
    """An ISO date for an absolute date or an offset like -30d / -6mo / -2y from `on`."""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    match = _RELATIVE.match(text)
    if not match:
        return text
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return (on + dt.timedelta(days=amount)).isoformat()
    if unit == "w":
        return (on + dt.timedelta(weeks=amount)).isoformat()
    months = amount if unit == "mo" else amount * 12
    year, month = divmod(on.month - 1 + months, 12)
    year += on.year
    day = min(on.day, 28) if (month + 1) == 2 else min(on.day, 30 if month + 1 in (4, 6, 9, 11) else 31)
    return dt.date(year, month + 1, day).isoformat()


def _coding(code: str, display: str | None) -> dict[str, Any]:
    system, _, value = code.rpartition("|")
    coding: dict[str, Any] = {"system": system, "code": value}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _status_concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


class _Builder:
    def __init__(self, key: str, spec: Mapping[str, Any], on: dt.date) -> None:
        self.key = key
        self.spec = spec
        self.on = on
        self.patient_id = str(spec.get("id", key))
        self.count = 0

    def date(self, value: Any) -> str:
        return resolve_date(value, self.on)

    def base(self, resource_type: str) -> dict[str, Any]:
        self.count += 1
        ident = f"{self.key}-{resource_type.lower()}-{self.count}"
        return {
            "resourceType": resource_type,
            "id": ident,
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": ident}],
        }

    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def patient(self) -> dict[str, Any]:
        info = self.spec.get("patient", {})
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": self.patient_id}],
            "active": True,
        }
        if "name" in info:
            family, _, given = str(info["name"]).partition(", ")
            patient["name"] = [{"use": "official", "family": family, "given": given.split() or ["—"]}]
        if "gender" in info:
            patient["gender"] = info["gender"]
        if "birthDate" in info:
            patient["birthDate"] = self.date(info["birthDate"])
        return patient

    def condition(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.base("Condition")
        resource["clinicalStatus"] = _status_concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", item.get("clinicalStatus", "active")
        )
        resource["verificationStatus"] = _status_concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            item.get("verificationStatus", "confirmed"),
        )
        resource["category"] = [
            _status_concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
        ]
        resource["code"] = _coding(item["code"], item.get("display"))
        resource["subject"] = self.subject()
        if "onset" in item:
            resource["onsetDateTime"] = self.date(item["onset"])
            resource["recordedDate"] = self.date(item["onset"])
        if "abatement" in item:
            resource["abatementDateTime"] = self.date(item["abatement"])
        return resource

    def observation(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.base("Observation")
        resource["status"] = item.get("status", "final")
        code = str(item["code"])
        category = "survey" if code.startswith("urn:trial-screen:score") else item.get("category", "laboratory")
        resource["category"] = [_status_concept(_CATEGORY, category)]
        resource["code"] = _coding(code, item.get("display"))
        resource["subject"] = self.subject()
        if "date" in item:
            resource["effectiveDateTime"] = self.date(item["date"])
        if "result" in item:
            snomed, display, interpretation = _POLARITY_CODES[item["result"]]
            resource["valueCodeableConcept"] = {
                "coding": [{"system": SNOMED, "code": snomed, "display": display}],
                "text": display,
            }
            resource["interpretation"] = [
                _status_concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", interpretation)
            ]
        elif "value" in item:
            unit = item.get("unit", "{score}" if category == "survey" else "1")
            resource["valueQuantity"] = _quantity(item["value"], unit)
            if "high" in item:
                resource["referenceRange"] = [{"high": _quantity(item["high"], unit)}]
        return resource

    def medication(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.base("MedicationRequest")
        resource["status"] = item.get("status", "active")
        resource["intent"] = "order"
        resource["medicationCodeableConcept"] = _coding(item["code"], item.get("display"))
        resource["subject"] = self.subject()
        if "start" in item:
            resource["authoredOn"] = self.date(item["start"])
            bounds = {"start": self.date(item["start"])}
            if "end" in item:
                bounds["end"] = self.date(item["end"])
            resource["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": bounds}}}]
        return resource

    def procedure(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.base("Procedure")
        resource["status"] = item.get("status", "completed")
        resource["code"] = _coding(item["code"], item.get("display"))
        resource["subject"] = self.subject()
        if "date" in item:
            resource["performedDateTime"] = self.date(item["date"])
        return resource

    def immunization(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.base("Immunization")
        resource["status"] = item.get("status", "completed")
        resource["vaccineCode"] = _coding(item["code"], item.get("display"))
        resource["patient"] = self.subject()
        if "date" in item:
            resource["occurrenceDateTime"] = self.date(item["date"])
        return resource

    def raw(self, item: Mapping[str, Any]) -> dict[str, Any]:
        resource = dict(item)
        if resource.get("resourceType") == "Immunization":
            resource.setdefault("patient", self.subject())
        else:
            resource.setdefault("subject", self.subject())
        if "id" not in resource:
            resource["id"] = self.base(str(resource["resourceType"]))["id"]
        return resource

    def resources(self) -> list[dict[str, Any]]:
        makers = {
            "conditions": self.condition,
            "observations": self.observation,
            "medications": self.medication,
            "procedures": self.procedure,
            "immunizations": self.immunization,
            "resources": self.raw,
        }
        built = [self.patient()]
        for section, make in makers.items():
            built.extend(make(item) for item in self.spec.get(section) or [])
        return built


def build_resources(key: str, spec: Mapping[str, Any], on: dt.date) -> list[dict[str, Any]]:
    """The Patient first, then every resource of the shorthand, with references `Patient/<id>`."""
    return _Builder(key, spec, on).resources()


def collection_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{_uuid(r)}", "resource": r} for r in resources],
    }


def transaction_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Updates (`PUT Type/id`) with the client-assigned ids, so references stay `Patient/<id>` on the server.

    A second upload replaces each resource instead of skipping it: the demo's dates, relative to the upload day,
    are refreshed and stay inside the trials' look-back windows. Servers that refuse client-assigned ids need
    them allowed (HAPI allows ids that are not all digits, as these are).
    """
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{_uuid(resource)}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in resources
        ],
    }


def _uuid(resource: Mapping[str, Any]) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{IDENTIFIER_SYSTEM}/{resource['resourceType']}/{resource['id']}"))
