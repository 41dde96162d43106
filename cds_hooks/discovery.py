"""The service descriptor: one service for patient-view, with a prefetch template per resource it reads."""

from __future__ import annotations

from cds_hooks.models import Discovery, ServiceDescriptor
from service.fhir_access.resource_types import PREFETCHED

SERVICE_ID = "trial-prescreen"

# Stable keys: EHRs cache them. Each is restricted to the patient in context.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    **{key: search.prefetch_template() for key, search in PREFETCHED.items()},
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
