"""Realistic synthetic patients of a given size, built with service.demo.builder (the demo's own builder).

The core of each patient is a demo patient (an SLE patient who is eligible for most trials, so every criterion
is evaluated); the rest is plausible history: lab panels every few weeks (LOINC, UCUM units, some in other
UCUM spellings), comorbidities (SNOMED and ICD-10-CM), medications (RxNorm), vaccines (CVX) and procedures.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

import yaml

from service.demo.builder import build_resources
from service.demo.patients import demo_dir

LOINC = "http://loinc.org|"
PANEL = [  # code, display, value range, unit, ULN
    ("6690-2", "Leukocytes [#/volume] in Blood", (3.5, 11.0), "10*3/uL", None),
    ("751-8", "Neutrophils [#/volume] in Blood", (1.5, 7.0), "10*3/uL", None),
    ("731-0", "Lymphocytes [#/volume] in Blood", (0.8, 3.0), "10*3/uL", None),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", (10.5, 15.0), "g/dL", None),
    ("777-3", "Platelets [#/volume] in Blood", (150, 400), "10*9/L", None),
    ("1742-6", "ALT [Enzymatic activity/volume] in Serum or Plasma", (10, 40), "U/L", 41),
    ("1920-8", "AST [Enzymatic activity/volume] in Serum or Plasma", (10, 38), "U/L", 40),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", (0.3, 1.1), "mg/dL", 1.2),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", (60, 95), "umol/L", 97),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", (70, 110), "mg/dL", None),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", (135, 145), "mmol/L", None),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", (3.5, 5.0), "mmol/L", None),
    ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", (3.5, 5.0), "g/dL", None),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", (4.8, 6.2), "%", None),
    ("8480-6", "Systolic blood pressure", (105, 140), "mm[Hg]", None),
    ("8462-4", "Diastolic blood pressure", (65, 90), "mm[Hg]", None),
    ("29463-7", "Body weight", (58, 70), "kg", None),
]
CONDITIONS = [
    ("http://snomed.info/sct|38341003", "Hypertensive disorder"),
    ("http://hl7.org/fhir/sid/icd-10-cm|E78.5", "Hyperlipidemia, unspecified"),
    ("http://snomed.info/sct|35489007", "Depressive disorder"),
    ("http://hl7.org/fhir/sid/icd-10-cm|K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    ("http://snomed.info/sct|195967001", "Asthma"),
    ("http://hl7.org/fhir/sid/icd-10-cm|M54.5", "Low back pain"),
    ("http://snomed.info/sct|73211009", "Diabetes mellitus"),
    ("http://hl7.org/fhir/sid/icd-10-cm|J06.9", "Acute upper respiratory infection, unspecified"),
]
MEDICATIONS = [
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("198053", "omeprazole 20 MG Delayed Release Oral Capsule"),
    ("617312", "atorvastatin 10 MG Oral Tablet"),
    ("310965", "ibuprofen 200 MG Oral Tablet"),
    ("313782", "acetaminophen 325 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
]
VACCINES = [("150", "influenza, injectable, quadrivalent"), ("208", "COVID-19, mRNA, 30 mcg/0.3 mL"), ("115", "Tdap")]
PROCEDURES = [
    ("http://snomed.info/sct|73761001", "Colonoscopy"),
    ("http://snomed.info/sct|168537006", "Plain chest X-ray"),
]

_BASE = "demo-sle-eligible"


def base_spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((demo_dir() / f"{_BASE}.yaml").read_text(encoding="utf-8"))
    return loaded


def patient_spec(size: int, seed: int = 0, key: str = "bench", *, target_disease: bool = True) -> dict[str, Any]:
    """A shorthand spec that builds to exactly `size` resources (Patient included), `size` >= 30.

    `target_disease=False`: the same chart without the SLE diagnosis, as most charts an EHR opens are (every
    trial is ruled out, so the hook builds no card).
    """
    rng = random.Random(seed)
    spec = copy.deepcopy(base_spec())
    spec["id"] = key
    spec.pop("expect", None)
    if not target_disease:
        spec["conditions"] = []
    core = 1 + sum(len(spec.get(s) or []) for s in ("conditions", "observations", "medications", "immunizations"))
    room = max(0, size - core)
    extra: dict[str, list[dict[str, Any]]] = {
        "observations": [],
        "conditions": [],
        "medications": [],
        "immunizations": [],
        "procedures": [],
    }
    n_cond, n_med, n_vax, n_proc = (min(len(x), room // 25) for x in (CONDITIONS, MEDICATIONS, VACCINES, PROCEDURES))
    for code, display in CONDITIONS[:n_cond]:
        extra["conditions"].append({"code": code, "display": display, "onset": f"-{rng.randint(1, 15)}y"})
    for code, display in MEDICATIONS[:n_med]:
        extra["medications"].append(
            {"code": f"http://www.nlm.nih.gov/research/umls/rxnorm|{code}", "display": display, "start": "-1y"}
        )
    for i in range(n_vax):
        code, display = VACCINES[i]
        extra["immunizations"].append(
            {"code": f"http://hl7.org/fhir/sid/cvx|{code}", "display": display, "date": f"-{i + 2}y"}
        )
    for code, display in PROCEDURES[:n_proc]:
        extra["procedures"].append({"code": code, "display": display, "date": f"-{rng.randint(1, 5)}y"})
    labs = room - n_cond - n_med - n_vax - n_proc
    day = 20
    while labs > 0:
        for code, display, (low, high), unit, uln in PANEL:
            if labs == 0:
                break
            item: dict[str, Any] = {
                "code": LOINC + code,
                "display": display,
                "value": round(rng.uniform(low, high), 1),
                "unit": unit,
                "date": f"-{day}d",
            }
            if uln is not None:
                item["high"] = uln
            extra["observations"].append(item)
            labs -= 1
        day += rng.randint(10, 30)
    for section, items in extra.items():
        spec[section] = (spec.get(section) or []) + items
    return spec


def patient_resources(
    size: int, seed: int = 0, key: str = "bench", on: dt.date | None = None, *, target_disease: bool = True
) -> list[dict[str, Any]]:
    """Patient first, then the other resources."""
    return build_resources(key, patient_spec(size, seed, key, target_disease=target_disease), on or dt.date.today())


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The hook's prefetch for these resources (every key of the service's descriptor filled)."""
    from service.fhir_access.resource_types import PREFETCHED

    patient, rest = resources[0], resources[1:]
    prefetch: dict[str, Any] = {"patient": patient}
    for key, search in PREFETCHED.items():
        entries = [{"resource": r, "search": {"mode": "match"}} for r in rest if r["resourceType"] in search.types]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    return prefetch


def hook_request(
    resources: list[dict[str, Any]], *, with_prefetch: bool = True, fhir_server: str | None = None
) -> dict[str, Any]:
    patient = resources[0]["id"]
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": f"bench-{patient}",
        "context": {"userId": "Practitioner/bench", "patientId": patient},
    }
    if with_prefetch:
        body["prefetch"] = prefetch_for(resources)
    if fhir_server:
        body["fhirServer"] = fhir_server
    return body


def write_export(directory: Any, patients: int, size: int) -> int:
    """A Bulk FHIR export ($export layout: one NDJSON file per resource type) of `patients` patients."""
    from pathlib import Path

    import orjson

    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    total = 0
    try:
        template = patient_resources(size, seed=0, key="tmpl")
        for i in range(patients):
            key = f"p{i:06d}"
            for resource in template:
                copy_ = dict(resource)
                copy_["id"] = resource["id"].replace("tmpl", key, 1)
                if "subject" in copy_:
                    copy_["subject"] = {"reference": f"Patient/{key}"}
                if "patient" in copy_:
                    copy_["patient"] = {"reference": f"Patient/{key}"}
                kind = copy_["resourceType"]
                if kind not in handles:
                    handles[kind] = (base / f"{kind}.ndjson").open("wb")
                handles[kind].write(orjson.dumps(copy_) + b"\n")
                total += 1
    finally:
        for handle in handles.values():
            handle.close()
    return total
