"""The audit API's response bodies (its OpenAPI schema), built from stored cards."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from service.audit.store import AuditedCard, FeedbackOutcome, FeedbackRecord
from service.screening.contract import CriterionReport
from service.web.audit_filters import OutcomeFilter


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class OverrideReasonOut(_Body):
    code: str | None = Field(description="Override reason code, from the card's overrideReasons")
    display: str | None = None


class FeedbackOut(_Body):
    outcome: FeedbackOutcome
    override_reason: OverrideReasonOut | None = None
    user_comment: str | None = None
    accepted_suggestions: list[str] = Field(default_factory=list, description="Ids of the accepted suggestions")
    outcome_timestamp: dt.datetime


class CriterionOut(_Body):
    id: str
    cohort: str | None = Field(default=None, description="Arm id; null for a criterion common to all arms")
    kind: str = Field(description="inclusion | exclusion")
    result: str = Field(description="met | not-met | unknown | manual (about the criterion's own wording)")
    evidence: list[str] = Field(default_factory=list, description="FHIR references the result was based on")
    missing: list[str] = Field(default_factory=list, description="Data that would decide an unknown criterion")


class CardOut(_Body):
    card_uuid: str
    created_at: dt.datetime
    patient: str = Field(description="FHIR reference of the patient, e.g. Patient/123")
    trial_id: str
    trial_status: str
    trial_version: str = Field(description="Content hash of the trial definition the card was computed with")
    service_version: str
    hook_instance: str
    fhir_server: str | None
    user: str | None = Field(description="FHIR reference of the EHR user (hook context userId)")
    summary: str
    outcome: OutcomeFilter = Field(description="Outcome of the latest feedback; none without feedback")
    criteria: list[CriterionOut]
    evidence_refs: list[str]
    feedback: list[FeedbackOut] = Field(description="All feedback on the card, oldest first")


class CardDetailOut(CardOut):
    report: dict[str, Any] = Field(description="The trial's screening report as shown to the clinician")


class CardPageOut(_Body):
    items: list[CardOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


def criterion_out(criterion: CriterionReport) -> CriterionOut:
    return CriterionOut(
        id=criterion.id,
        cohort=criterion.cohort,
        kind=criterion.kind.value,
        result=criterion.result.value,
        evidence=[e.reference for e in criterion.evidence],
        missing=list(criterion.missing),
    )


def _feedback_out(fb: FeedbackRecord) -> FeedbackOut:
    reason = None
    if fb.override_reason_code is not None or fb.override_reason_display is not None:
        reason = OverrideReasonOut(code=fb.override_reason_code, display=fb.override_reason_display)
    return FeedbackOut(
        outcome=FeedbackOutcome(fb.outcome),
        override_reason=reason,
        user_comment=fb.user_comment,
        accepted_suggestions=list(fb.accepted_suggestions),
        outcome_timestamp=fb.outcome_timestamp,
    )


def latest_outcome(card: AuditedCard) -> OutcomeFilter:
    """The latest feedback's outcome (the store returns feedback oldest first, as its filter orders it)."""
    return OutcomeFilter(card.feedback[-1].outcome) if card.feedback else OutcomeFilter.NONE


def card_out(card: AuditedCard) -> CardOut:
    return CardOut(**_card_fields(card))


def card_detail_out(card: AuditedCard) -> CardDetailOut:
    return CardDetailOut(**_card_fields(card), report=dict(card.report))


def _card_fields(card: AuditedCard) -> dict[str, Any]:
    report = card.trial_report()  # None for a row whose report cannot be read: no criteria to list
    return {
        "card_uuid": card.card_uuid,
        "created_at": card.created_at,
        "patient": card.patient_ref,
        "trial_id": card.trial_id,
        "trial_status": card.trial_status,
        "trial_version": card.trial_version,
        "service_version": card.service_version,
        "hook_instance": card.hook_instance,
        "fhir_server": card.fhir_server,
        "user": card.user_ref,
        "summary": card.summary,
        "outcome": latest_outcome(card),
        "criteria": [criterion_out(c) for c in report.criteria] if report else [],
        "evidence_refs": card.evidence_refs,
        "feedback": [_feedback_out(fb) for fb in card.feedback],
    }
