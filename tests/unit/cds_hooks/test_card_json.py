"""The trial cards the hook sends (`card_json`, built without the pydantic models) are exactly the validated
`Card`s serialised as before: same keys, same order, same bytes, with and without the site configuration."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_hooks.cards import _referral_template, card_for, card_json
from cds_hooks.models import CdsResponse
from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.screening.contract import Status
from service.screening.prescreen import ChartOpened, prescreen
from service.screening.screen import load_screener
from service.screening.sites import load_sites
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)


def _link(card_uuid: str) -> str:
    return f"https://svc.example/reports/{card_uuid}?sig=s"


def _same_suggestion_uuid(card: dict[str, Any]) -> dict[str, Any]:
    return {**card, "suggestions": [{**s, "uuid": "UUID"} for s in card["suggestions"]]}


@pytest.mark.parametrize("with_sites", [False, True])
def test_card_json_is_the_validated_card(with_sites: bool) -> None:
    screener = load_screener()
    sites = load_sites(None, screener.versions()) if with_sites else None
    records = [demo.record for demo in load_demo_patients(ON)]
    records += [record_from_bundle(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(SYNTHEA.glob("*.json"))]
    compared = 0
    for record in records:
        for shown in prescreen(screener, ChartOpened(record, "h", None, "Practitioner/x"), on=ON).shown:
            site = sites.site(shown.trial.id) if sites else None
            fast = card_json(shown, record.reference, _link, site)
            validated = CdsResponse(cards=[card_for(shown, record.reference, _link, site)]).to_json()["cards"][0]
            assert orjson.dumps(_same_suggestion_uuid(fast)) == orjson.dumps(_same_suggestion_uuid(validated))
            compared += 1
    assert compared >= 10


_RECIPIENTS = [None, ("Organization/site-1", None), ("PractitionerRole/team.a-1", "Dr Müller's team <CAR-T>")]


@pytest.mark.parametrize("performer", _RECIPIENTS)
def test_the_referral_is_the_validated_fhir_service_request(performer: tuple[str, str | None] | None) -> None:
    """The hook writes the draft ServiceRequest without the FHIR models: it must be exactly what validating it as
    FHIR R4 and dumping it gives, for every bundled trial (titles, registry ids) and status."""
    for trial in load_screener().trials:
        definition = trial.compiled.trial
        for status in Status:
            for registry_id in {definition.registry, None}:
                built = _referral_template(definition.id, definition.title, registry_id, status, performer)
                validated = ServiceRequest.model_validate(built).model_dump(mode="json", exclude_none=True)
                assert orjson.dumps(built) == orjson.dumps(validated)
