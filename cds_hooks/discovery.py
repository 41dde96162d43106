"""The service descriptor: one service for patient-view, with a prefetch template per resource it reads."""

from __future__ import annotations

from cds_hooks.models import Discovery, ServiceDescriptor

SERVICE_ID = "trial-prescreen"

# Stable keys: EHRs cache them. Each is restricted to the patient in context.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "immunizations": "Immunization?patient={{context.patientId}}",
}

# Which FHIR resource types each prefetch key supplies.
PREFETCH_TYPES: dict[str, tuple[str, ...]] = {
    "conditions": ("Condition",),
    "observations": ("Observation",),
    "medicationRequests": ("MedicationRequest", "Medication"),
    "medicationStatements": ("MedicationStatement",),
    "procedures": ("Procedure",),
    "immunizations": ("Immunization",),
}


def discovery() -> Discovery:
    return Discovery(
        services=[
            ServiceDescriptor(
                hook="patient-view",
                id=SERVICE_ID,
                title="CAR-T trial pre-screening",
                description=(
                    "Pre-screens the patient for CAR-T cell therapy trials in refractory autoimmune disease "
                    "and suggests a referral, with the evidence and the missing data per criterion."
                ),
                prefetch=PREFETCH,
            )
        ]
    )
