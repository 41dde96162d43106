"""The contract JSON, the hook's cards and the audited report are byte-for-byte what they were before the report
types were redesigned, for every Synthea bundle and every demo patient (evaluated on a fixed date).

`golden_outputs.json` holds the SHA-256 of each document, recorded at commit 03f5836 (the last commit with the
old report types) by the same document layout as `_documents` below; uuids, report links and timestamps are
replaced by placeholders. The cards of twelve documents were re-recorded when record and trial text in card
markdown began to be escaped (`cds_hooks/markdown.py`: `10\\*3/uL`, `\\[arm\\]`); nothing else changed.
A failure writes the documents it produced next to the test's tmp_path for diffing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_hooks.cards import card_for
from cds_hooks.models import CdsResponse
from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.fhir_access.record import PatientRecord
from service.screening.prescreen import ChartOpened, prescreen
from service.screening.render import render_text
from service.screening.screen import Screener, load_screener
from service.web.audit_schemas import criterion_out
from tests.paths import SYNTHEA

ON = dt.date(2026, 11, 23)
DIGESTS: dict[str, str] = json.loads((Path(__file__).parent / "golden_outputs.json").read_text(encoding="utf-8"))


def _records() -> Iterator[tuple[str, PatientRecord]]:
    for path in sorted(SYNTHEA.glob("*.json")):
        yield f"synthea-{path.stem}", record_from_bundle(json.loads(path.read_text(encoding="utf-8")))
    for demo in load_demo_patients(ON):
        yield f"demo-{demo.key}", demo.record


def _link(card_uuid: str) -> str:
    return f"http://x.test/reports/{card_uuid}?sig=s"


def _scrubbed(card: dict[str, Any], card_uuid: str) -> dict[str, Any]:
    return {
        **card,
        "uuid": "UUID",
        "links": [{**link, "url": link["url"].replace(card_uuid, "UUID")} for link in card.get("links", [])],
        "suggestions": [{**s, "uuid": "UUID"} for s in card.get("suggestions", [])],
    }


def _documents(screener: Screener, record: PatientRecord) -> tuple[bytes, bytes]:
    """The JSON document (report, cards, audited rows as the audit API shows them) and the text report without
    its first line."""
    report = screener.screen_json(record, on=ON)
    report["evaluatedAt"] = "EVALUATED-AT"
    cards, audits = [], []
    result = prescreen(screener, ChartOpened(record, "hook-1", None, "Practitioner/x"), on=ON)
    for shown, row in zip(result.shown, result.records, strict=True):
        card = CdsResponse(cards=[card_for(shown, record.reference, _link)]).to_json()["cards"][0]
        cards.append(_scrubbed(card, shown.card_uuid))
        audits.append(
            {
                "trial_status": row.trial_status.value,
                "criteria": [criterion_out(c).model_dump(mode="json") for c in row.trial.criteria],
                "evidence_refs": row.trial.evidence_references(),
                "report": row.trial.to_json(),
                "summary": row.summary,
            }
        )
    document = orjson.dumps({"report": report, "cards": cards, "audit": audits}, option=orjson.OPT_INDENT_2)
    text = render_text(screener.screen(record, on=ON)).split("\n", 1)[1]
    return document, text.encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_reports_cards_and_audit_rows_are_unchanged(tmp_path: Path) -> None:
    screener = load_screener()
    changed = []
    for name, record in _records():
        document, text = _documents(screener, record)
        for suffix, data in ((".json", document), (".txt", text)):
            if _sha(data) != DIGESTS.get(name + suffix):
                changed.append(name + suffix)
                (tmp_path / (name + suffix)).write_bytes(data)
    assert not changed, f"changed: {changed} (written to {tmp_path})"


@pytest.mark.parametrize("name", ["synthea-03-asa-hermiston.json", "demo-demo-sle-eligible.json"])
def test_the_golden_set_holds_carded_patients(name: str) -> None:
    """The comparison covers cards, not only reports: these patients get trial cards."""
    assert name in DIGESTS
