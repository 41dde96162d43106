"""The hook's use case: a chart was opened → which trials to show, and what the audit trail must record.

The CDS Hooks adapter parses the call, gathers the record and renders cards; everything decided about the
patient between those steps is decided here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.fhir_access.record import PatientRecord
from service.screening.contract import Status, TrialReport
from service.screening.render import headline
from service.screening.screen import Screener
from service.screening.sites import Sites
from service.screening.uuids import uuid4_text
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
class TrialRuledOut:
    """A recruiting trial the record rules the patient out of, for an optional info card saying why."""

    trial: TrialReport
    short_name: str


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
    ruled_out: tuple[TrialRuledOut, ...] = ()  # only when asked for (`explain_ruled_out`), for info cards


def is_deceased(patient: Mapping[str, Any]) -> bool:
    """No referral is suggested for a patient the record says has died (deceasedBoolean / deceasedDateTime)."""
    return patient.get("deceasedBoolean") is True or bool(patient.get("deceasedDateTime"))


def prescreen(
    screener: Screener,
    chart: ChartOpened,
    *,
    on: dt.date | None = None,
    sites: Sites | None = None,
    explain_ruled_out: bool = False,
) -> Prescreening:
    """Recruiting trials the patient may qualify for (none for a deceased patient), each with the audit row to
    keep; with `explain_ruled_out`, also the full reports of the recruiting trials the patient is ruled out of."""
    record = chart.record
    if is_deceased(record.patient):
        return Prescreening((), ())
    now = dt.datetime.now(dt.UTC)
    day = on or now.date()
    loaded = {t.id: t for t in screener.trials}
    if explain_ruled_out:  # the full report of every trial: the ruled-out ones need their deciding criteria
        reports = list(screener.screen(record, on=day, unreadable=chart.unreadable).trials)
    else:
        reports = screener.screen_for_cards(record, on=day, unreadable=chart.unreadable)
    recruiting = [t for t in reports if sites is None or sites.is_recruiting(t.id)]
    shown: list[TrialToShow] = []
    records: list[CardRecord] = []
    for trial in (t for t in recruiting if t.status is not Status.INELIGIBLE):
        definition = loaded[trial.id]
        card = TrialToShow(uuid4_text(), trial, headline(trial, definition.compiled.trial.short))
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
    ruled_out = tuple(
        TrialRuledOut(t, loaded[t.id].compiled.trial.short) for t in recruiting if t.status is Status.INELIGIBLE
    )
    return Prescreening(tuple(shown), tuple(records), ruled_out)
