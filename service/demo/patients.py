"""The bundled demo patients: YAML shorthand in service/demo/patients/, dated relative to `on`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from service.demo.builder import build_resources, transaction_bundle
from service.fhir_access.bundle import record_from_resources
from service.fhir_access.record import PatientRecord


@dataclass(frozen=True, slots=True)
class DemoPatient:
    key: str  # file stem, also the Patient id
    spec: dict[str, Any]
    resources: list[dict[str, Any]]

    @property
    def title(self) -> str:
        return str(self.spec.get("description", self.key))

    @property
    def record(self) -> PatientRecord:
        return record_from_resources(self.resources[0], self.resources[1:])

    @property
    def transaction(self) -> dict[str, Any]:
        return transaction_bundle(self.resources)


def demo_dir() -> Path:
    return Path(str(resources.files("service.demo").joinpath("patients")))


def demo_files() -> list[Path]:
    """The demo patients' YAML files, in the order the demo lists them (by key)."""
    return sorted(demo_dir().glob("*.yaml"))


def load_demo_patients(on: dt.date) -> list[DemoPatient]:
    patients = []
    for path in demo_files():
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        patients.append(DemoPatient(path.stem, spec, build_resources(path.stem, spec, on)))
    return patients
