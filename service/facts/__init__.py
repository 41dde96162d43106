"""Records → criterion inputs: implements service.criteria.inputs.PatientData as clinical-policies.md says."""

from __future__ import annotations

from service.facts.patient_facts import PatientFacts

__all__ = ["PatientFacts"]
