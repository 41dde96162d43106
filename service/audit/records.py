"""What goes into the audit store and comes out of it (the card itself, `CardRecord`, is the hook use case's:
`service.screening.prescreen`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from service.screening.contract import TrialReport

NO_FEEDBACK: Final = "none"  # the outcome filter for cards without feedback


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """What the clinician did with a card (CDS Hooks feedback)."""

    card_uuid: str
    outcome: str  # "accepted" | "overridden"
    override_reason_code: str | None
    override_reason_display: str | None
    user_comment: str | None
    accepted_suggestions: list[str]
    outcome_timestamp: dt.datetime  # tz-aware


@dataclass(frozen=True, slots=True)
class CardFilter:
    """All given conditions must hold. ``start`` is inclusive, ``end`` exclusive."""

    patient: str | None = None
    trial: str | None = None
    status: str | None = None
    outcome: str | None = None  # "accepted" | "overridden" | "none"
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditedCard:
    """A stored card: what was shown, the trial report it rested on (as stored), and all its feedback, oldest
    first."""

    card_uuid: str
    hook_instance: str
    patient_ref: str
    fhir_server: str | None
    user_ref: str | None
    trial_id: str
    trial_status: str
    trial_version: str
    service_version: str
    report: dict[str, Any]  # the trial's report in the contract's JSON form
    summary: str
    created_at: dt.datetime
    feedback: list[FeedbackRecord]

    def trial_report(self) -> TrialReport | None:
        """The stored report as the contract's types; None when the row holds no readable report."""
        try:
            return TrialReport.from_json(self.report)
        except ValidationError:
            return None

    @property
    def evidence_refs(self) -> list[str]:
        return evidence_references(self.report)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[AuditedCard]
    next_cursor: str | None


def evidence_references(report: Any) -> list[str]:
    """The records a stored report rests on, each once, sorted (nothing for a malformed report)."""
    criteria = report.get("criteria") if isinstance(report, dict) else None
    return sorted(
        {
            evidence["reference"]
            for criterion in criteria or ()
            if isinstance(criterion, dict)
            for evidence in criterion.get("evidence") or ()
            if isinstance(evidence, dict) and isinstance(evidence.get("reference"), str)
        }
    )
