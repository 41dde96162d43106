"""The hook's use case: a chart was opened → which trials to show, and what the audit trail must record.

The CDS Hooks adapter parses the call, gathers the record and renders cards; everything decided about the
patient between those steps is decided here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.fhir_access.record import PatientRecord
from service.screening.contract import Status, TrialReport
from service.screening.render import headline
from service.screening.screen import Screener
from service.version import SERVICE_VERSION


@dataclass(frozen=True, slots=True)
class ChartOpened:
    """One hook call: the patient's record and who asked, from where."""

    record: PatientRecord
    hook_instance: str
    fhir_server: str | None
    user: str | None
    unreadable: frozenset[str] = frozenset()  # resource types that could not be read


@dataclass(frozen=True, slots=True)
class TrialToShow:
    """A trial the patient may qualify for, under the card uuid it is shown and recorded with."""

    card_uuid: str
    trial: TrialReport
    summary: str


@dataclass(frozen=True, slots=True)
class CardRecord:
    """One card as shown to the EHR, with the report it rests on: the audit trail's row."""

    card_uuid: str
    hook_instance: str
    patient_ref: str
    fhir_server: str | None
    user_ref: str | None
    trial: TrialReport
    trial_version: str  # content hash of the trial file
    service_version: str
    summary: str
    created_at: dt.datetime  # tz-aware

    @property
    def trial_id(self) -> str:
        return self.trial.id

    @property
    def trial_status(self) -> Status:
        return self.trial.status


@dataclass(frozen=True, slots=True)
class Prescreening:
    shown: tuple[TrialToShow, ...]
    records: tuple[CardRecord, ...]


def is_deceased(patient: Mapping[str, Any]) -> bool:
    """No referral is suggested for a patient the record says has died (deceasedBoolean / deceasedDateTime)."""
    return patient.get("deceasedBoolean") is True or bool(patient.get("deceasedDateTime"))


def prescreen(screener: Screener, chart: ChartOpened, *, on: dt.date | None = None) -> Prescreening:
    """Trials the patient may qualify for (none for a deceased patient), each with the audit row to keep."""
    record = chart.record
    if is_deceased(record.patient):
        return Prescreening((), ())
    now = dt.datetime.now(dt.UTC)
    loaded = {t.id: t for t in screener.trials}
    shown: list[TrialToShow] = []
    records: list[CardRecord] = []
    for trial in screener.screen_for_cards(record, on=on or now.date(), unreadable=chart.unreadable):
        definition = loaded[trial.id]
        card = TrialToShow(str(uuid.uuid4()), trial, headline(trial, definition.compiled.trial.short))
        shown.append(card)
        records.append(
            CardRecord(
                card_uuid=card.card_uuid,
                hook_instance=chart.hook_instance,
                patient_ref=record.reference,
                fhir_server=chart.fhir_server,
                user_ref=chart.user,
                trial=trial,
                trial_version=definition.version,
                service_version=SERVICE_VERSION,
                summary=card.summary,
                created_at=now,
            )
        )
    return Prescreening(tuple(shown), tuple(records))
