"""Screening report → CDS Hooks cards: one per trial the patient may qualify for, none for ineligible.

The trial cards are built straight in their JSON form (`card_json`), on the hook's path: they are made from
the service's own reports and fixed texts, so validating them again through the pydantic models would only cost
time; `card_for` is the same card as a validated `Card` (tests check the two agree). The rarer cards (ruled out,
warning, audit unavailable) are `Card` models.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from cds_hooks import markdown
from cds_hooks.models import Card, Coding, Link, Source
from service.screening.contract import CriterionKind, CriterionResult, Status, TrialReport
from service.screening.prescreen import TrialRuledOut, TrialToShow
from service.screening.render import clip, deciding_criteria, reason
from service.screening.sites import TrialSite
from service.screening.uuids import uuid4_text

SOURCE_LABEL = "trial-screen CAR-T pre-screening"
TOPIC_SYSTEM = "urn:trial-screen:trial"
REFERRAL_CODE = {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}

OVERRIDE_REASONS = [
    Coding(system="urn:trial-screen:override-reason", code="patient-declined", display="Patient not interested"),
    Coding(system="urn:trial-screen:override-reason", code="not-appropriate", display="Not clinically appropriate"),
    Coding(system="urn:trial-screen:override-reason", code="already-referred", display="Already referred or enrolled"),
    Coding(system="urn:trial-screen:override-reason", code="record-incorrect", display="Record data is incorrect"),
]
_OVERRIDE_REASONS_JSON = [reason.to_json() for reason in OVERRIDE_REASONS]  # shared by every card: never edited

_SUBJECT_PLACEHOLDER = "Patient/subject"

ReportLink = Callable[[str], str]  # card uuid → absolute URL of the card's report page


# Members tested per criterion, as module names: reading one off its Enum class runs Python code.
_INCLUSION, _INELIGIBLE = CriterionKind.INCLUSION, Status.INELIGIBLE
_MET, _NOT_MET, _UNKNOWN, _MANUAL = (
    CriterionResult.MET,
    CriterionResult.NOT_MET,
    CriterionResult.UNKNOWN,
    CriterionResult.MANUAL,
)
_DISCLAIMER = "Pre-screening from the chart only; the trial team confirms eligibility."


@functools.lru_cache(maxsize=4096)
def _clipped_markdown(arm: str | None, wording: str, limit: int) -> str:
    """A criterion's wording (with its arm), clipped, as markdown text. Cached: the arms' titles and the
    criteria's wordings are the catalog's, the same on every call (no patient data in the key)."""
    prefix = f"[{arm}] " if arm else ""
    return markdown.text(clip(f"{prefix}{wording}", limit))


@functools.lru_cache(maxsize=1024)
def _fixed_markdown(value: str) -> str:
    """`markdown.text` of the catalog's and the site file's own texts (arm titles, team names), never a patient's."""
    return markdown.text(value)


class _SiteParts(NamedTuple):
    """What a site adds to its trial's cards, worked out once per site object."""

    team: str | None  # the referral recipient's name
    performer: tuple[str, str | None] | None  # the referral's `performer`: reference, display
    contact: tuple[str, ...]  # the detail's trial team lines
    url: str | None
    url_label: str


# By the site's identity; the site is kept so that its id is not reused. Cleared when full.
_SITE_PARTS: dict[int, tuple[TrialSite, _SiteParts]] = {}
_NO_SITE = _SiteParts(None, None, (), None, "")


def _site_parts(site: TrialSite | None) -> _SiteParts:
    if site is None:
        return _NO_SITE
    found = _SITE_PARTS.get(id(site))
    if found is None or found[0] is not site:
        if len(_SITE_PARTS) >= 256:
            _SITE_PARTS.clear()
        found = _SITE_PARTS[id(site)] = (site, _parts_of(site))
    return found[1]


def _parts_of(site: TrialSite) -> _SiteParts:
    recipient, contact = site.referral_recipient, site.contact
    lines: tuple[str, ...] = ()
    if contact is not None:
        ways = [w for w in (contact.phone, contact.email) if w]
        # the site file is the operator's, checked at start: the name is escaped like any text, the phone and the
        # e-mail address are left for the EHR to make callable and mailable
        lines = ("", f"**Trial team:** {markdown.text(contact.name)}" + (f" ({', '.join(ways)})" if ways else ""))
    return _SiteParts(
        recipient.display if recipient else None,
        (recipient.reference, recipient.display) if recipient else None,
        lines,
        str(site.url) if site.url is not None else None,
        site.url_label,
    )


def _detail(trial: TrialReport, site: _SiteParts) -> str:
    """The card's text: the criteria of the common part and of the arms still open, in one pass, by result."""
    open_arms = {c.id: c.title for c in trial.cohorts if c.status is not _INELIGIBLE}
    needed: list[str] = []
    met: list[str] = []
    manual: list[str] = []
    clear = 0
    for c in trial.criteria:
        cohort = c.cohort
        if cohort is not None and cohort not in open_arms:
            continue
        result = c.result
        if result is _UNKNOWN:
            label = _clipped_markdown(open_arms.get(cohort) if cohort else None, c.text, 90)
            needed.append(f"- **{markdown.text('; '.join(c.missing))}**, for: {label}")
        elif result is _MANUAL:
            manual.append(f"- {_clipped_markdown(open_arms.get(cohort) if cohort else None, c.text, 110)}")
        elif c.kind is _INCLUSION:
            if result is _MET:
                label = _clipped_markdown(open_arms.get(cohort) if cohort else None, c.text, 110)
                shown = markdown.text("; ".join([e.display for e in c.evidence])) if c.evidence else ""
                met.append(f"- {label} ({shown})" if shown else f"- {label}")
        elif result is _NOT_MET:
            clear += 1
    lines = [f"**Status:** {trial.status.replace('-', ' ')}"]
    if open_arms:
        arms = [
            f"{_fixed_markdown(c.title)} ({c.status.replace('-', ' ')})"
            for c in trial.cohorts
            if c.status is not _INELIGIBLE
        ]
        lines.append(f"**Arms:** {', '.join(arms)}")
    if needed:
        lines += ["", f"**Still needed ({len(needed)})**", *needed]
    if met:
        lines += ["", f"**Met ({len(met)})**", *met]
    if clear:
        lines += ["", f"**No exclusion found in the record ({clear} checked)**"]
    if manual:
        lines += ["", f"**For the trial team to check ({len(manual)})**", *manual]
    lines += site.contact
    lines += ["", _DISCLAIMER]
    return "\n".join(lines)


def _referral(trial: TrialReport, patient_ref: str, performer: tuple[str, str | None] | None) -> dict[str, Any]:
    """A draft referral the clinician can sign: a FHIR R4 ServiceRequest.

    The referral depends on the trial's id, title, registry id and status, and on the patient only through
    `subject`: it is built once per trial and status, and each card gets a copy with its subject filled
    (a shallow copy: cards are serialised, never edited, so the nested parts can be shared).
    """
    template = _referral_template(trial.id, trial.title, trial.registry_id, trial.status, performer)
    return {**template, "subject": {"reference": patient_ref}}


@functools.lru_cache(maxsize=256)
def _referral_template(
    trial_id: str, title: str, registry_id: str | None, status: str, performer: tuple[str, str | None] | None
) -> dict[str, Any]:
    """Written as fhir.resources' validated ServiceRequest dumps it (its keys in FHIR's order, no empty value);
    `tests/unit/cds_hooks/test_card_json.py` validates it through that model for every trial, status and kind of
    recipient. Not validated here: importing the FHIR models cost ~70 ms of the first hook call."""
    note = f"Pre-screened {status.replace('-', ' ')} for trial {trial_id}"
    if registry_id:
        note += f" ({registry_id})"
    draft: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [{"coding": [REFERRAL_CODE]}],
        "code": {"coding": [REFERRAL_CODE], "text": f"Referral to clinical trial team: {title}"},
        "subject": {"reference": _SUBJECT_PLACEHOLDER},  # holds the key's place; each card fills it
    }
    if performer is not None:  # the site's Organization or the trial team's PractitionerRole
        reference, display = performer
        draft["performer"] = [{"reference": reference, **({"display": display} if display else {})}]
    draft["reasonCode"] = [{"text": f"Possible eligibility for clinical trial {trial_id}"}]
    draft["note"] = [{"text": note}]
    return draft


@functools.lru_cache(maxsize=256)
def _trial_links(registry_id: str | None, site_url: str | None, site_label: str) -> tuple[dict[str, str], ...]:
    """The trial's registry page and the site's page, as the JSON of CDS Hooks links (shared by every card of
    the trial: never edited)."""
    links = []
    if registry_id and registry_id.startswith("NCT"):
        links.append(
            {
                "label": f"{registry_id} on ClinicalTrials.gov",
                "url": f"https://clinicaltrials.gov/study/{registry_id}",
                "type": "absolute",
            }
        )
    if site_url is not None and all(link["url"] != site_url for link in links):
        links.append({"label": site_label, "url": site_url, "type": "absolute"})
    return tuple(links)


def card_json(
    shown: TrialToShow, patient_ref: str, report_link: ReportLink, site: TrialSite | None = None
) -> dict[str, Any]:
    """The trial's card as the JSON the EHR receives; `site` (the site configuration) adds the trial team, its
    page and the referral's recipient. Keys in the models' order, no null or empty value (as `Card.to_json`)."""
    trial, card_id = shown.trial, shown.card_uuid
    parts = _site_parts(site)
    team = parts.team
    report = {"label": "Full pre-screening report", "url": report_link(card_id), "type": "absolute"}
    action = {
        "type": "create",
        "description": f"Draft referral to the {team or trial.id + ' trial team'}",
        "resource": _referral(trial, patient_ref, parts.performer),
    }
    suggestion = {
        "label": f"Refer to the trial team: {team or trial.id}",
        "uuid": uuid4_text(),
        "isRecommended": trial.status is Status.ELIGIBLE,
        "actions": [action],
    }
    return {
        "uuid": card_id,
        "summary": shown.summary,
        "detail": _detail(trial, parts),
        "indicator": "info",
        "source": {"label": SOURCE_LABEL, "topic": {"system": TOPIC_SYSTEM, "code": trial.id, "display": trial.title}},
        "suggestions": [suggestion],
        "selectionBehavior": "at-most-one",
        "overrideReasons": _OVERRIDE_REASONS_JSON,
        "links": [*_trial_links(trial.registry_id, parts.url, parts.url_label), report],
    }


def card_for(shown: TrialToShow, patient_ref: str, report_link: ReportLink, site: TrialSite | None = None) -> Card:
    """`card_json` as a validated `Card`."""
    return Card.model_validate(card_json(shown, patient_ref, report_link, site))


def ruled_out_card(ruled_out: TrialRuledOut, site: TrialSite | None = None) -> Card:
    """Why there is no referral card for a trial (only when the `ruled_out_cards` setting asks for it): the
    criteria that rule the patient out, with their evidence, so a clinician can spot a wrong record."""
    trial, parts = ruled_out.trial, _site_parts(site)
    deciding = deciding_criteria(trial)
    detail = "\n".join(
        [
            "The record rules this patient out of the trial:",
            "",
            *[f"- {markdown.text(reason(c, trial, 110))}" for c in deciding],
            "",
            "If the record is wrong, correct it and reopen the chart.",
        ]
    )
    return Card(  # no uuid and no suggestion: nothing to act on, nothing to audit or give feedback on
        summary=clip(f"Not eligible for CAR-T trial: {ruled_out.short_name}", 139),
        detail=detail,
        indicator="info",
        source=Source(label=SOURCE_LABEL, topic=Coding(system=TOPIC_SYSTEM, code=trial.id, display=trial.title)),
        links=[Link.model_validate(link) for link in _trial_links(trial.registry_id, parts.url, parts.url_label)]
        or None,
    )


def warning_card(problems: list[str]) -> Card:
    """Says what could not be read, so nobody takes a missing card as "not eligible"."""
    detail = "\n".join(
        [
            "Some of the record could not be read, so these results may be incomplete:",
            "",
            *[f"- {markdown.text(p)}" for p in problems],
            "",
            "Criteria that depend on the unread data are reported as unknown, never as met.",
        ]
    )
    return Card(  # no uuid: it is not a trial card, so there is nothing to audit or give feedback on
        summary="Trial pre-screening incomplete: part of the record could not be read",
        detail=detail,
        indicator="warning",
        source=Source(label=SOURCE_LABEL),
    )


def audit_unavailable_card() -> Card:
    """Replaces the trial cards when they cannot be recorded: every card shown must be in the audit trail."""
    return Card(
        summary="Trial pre-screening unavailable: suggestions cannot be recorded right now",
        detail=(
            "The service screened this patient, but its audit trail is not accepting records at the moment, "
            "so trial suggestions are withheld. Reopening the chart later will screen the patient again."
        ),
        indicator="warning",
        source=Source(label=SOURCE_LABEL),
    )
