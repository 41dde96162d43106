"""One patient's FHIR record as raw JSON dicts (no model validation on the hot path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A Patient and that patient's resources, grouped by ``resourceType``.

    ``resources`` holds only types of ``resource_types.READ_TYPES``; a type that was not read (or whose fetch
    failed) is simply absent, and :meth:`of_type` then returns ``()``.
    """

    patient: Mapping[str, Any]
    resources: Mapping[str, tuple[Mapping[str, Any], ...]]

    @property
    def reference(self) -> str:
        """``Patient/<id>``."""
        return f"Patient/{self.patient.get('id', '')}"

    def of_type(self, resource_type: str) -> tuple[Mapping[str, Any], ...]:
        return self.resources.get(resource_type, ())
