"""The trial cards the hook sends (`card_json`, built without the pydantic models) are exactly the validated
`Card`s serialised as before: same keys, same order, same bytes, with and without the site configuration."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import pytest

from cds_hooks.cards import card_for, card_json
from cds_hooks.models import CdsResponse
from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
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
