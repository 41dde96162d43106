"""The report's stored forms (`report_codec.py`): compact on SQLite, whole JSON before revision 0004 and on
PostgreSQL; every reader gives back from either exactly the JSON `TrialReport.to_json` gave."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import orjson
import pytest
from sqlalchemy import create_engine, func, insert, select

from service.audit.errors import AuditConflictError, AuditRejectedError
from service.audit.report_codec import skeleton_json
from service.audit.store import AuditStore, CardFilter
from service.audit.tables import audit_card, audit_report_skeleton
from service.demo.patients import load_demo_patients
from service.fhir_access.bundle import record_from_bundle
from service.screening.contract import TrialReport
from service.screening.screen import load_screener
from tests.paths import SYNTHEA
from tests.unit.audit.audit_helpers import T0, make_card

ON = dt.date(2026, 11, 23)


def _stored(url: str) -> list[tuple[object, bytes | None, int | None]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        query = select(audit_card.c.report, audit_card.c.report_compact, audit_card.c.report_skeleton)
        rows = conn.execute(query.order_by(audit_card.c.id)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def _skeletons(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(audit_report_skeleton)).scalar_one()
    engine.dispose()
    return int(n)


def _real_reports() -> list[TrialReport]:
    """Every trial report of the Synthea and demo patients, ruled out or not (full reports, every shape)."""
    records = [
        record_from_bundle(json.loads(path.read_text(encoding="utf-8"))) for path in sorted(SYNTHEA.glob("*.json"))
    ]
    records += [demo.record for demo in load_demo_patients(ON)]
    screener = load_screener()
    return [trial for record in records for trial in screener.screen(record, on=ON).trials]


def test_sqlite_stores_the_report_compact_and_postgresql_whole(store: AuditStore, database_url: str) -> None:
    card = make_card()
    store.record_cards([card])
    [(report, compact, skeleton)] = _stored(database_url)
    if store._db.backend == "sqlite":
        assert report is None
        assert compact is not None
        assert skeleton is not None
    else:
        assert report == card.trial.to_json()
        assert (compact, skeleton) == (None, None)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_real_reports_read_back_byte_for_byte(store: AuditStore, database_url: str) -> None:
    """The Synthea and demo patients' reports of every trial, written compact and read by a fresh process."""
    trials = _real_reports()
    cards = [make_card(trial=trial, trial_id=trial.id, trial_version=f"v-{trial.id}") for trial in trials]
    store.record_cards(cards)
    assert all(compact is not None for _, compact, _ in _stored(database_url))
    fresh = AuditStore(database_url)
    try:
        for card in cards:
            got = fresh.get_card(card.card_uuid)
            assert got is not None
            assert orjson.dumps(got.report) == orjson.dumps(card.trial.to_json())
            assert got.trial_report() == card.trial
    finally:
        fresh.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_old_and_new_rows_read_alike(store: AuditStore, database_url: str) -> None:
    """A row written whole (before revision 0004) and a compact one: the API's card, the list and the CSV give
    the same for both."""
    old, new = make_card(evidence=("Observation/old",)), make_card(evidence=("Observation/new",))
    engine = create_engine(database_url)
    with engine.begin() as conn:
        fields = {f.name: getattr(old, f.name) for f in dataclasses.fields(old) if f.name != "trial"}
        row = {
            **fields,
            "trial_id": old.trial_id,
            "trial_status": old.trial_status.value,
            "report": old.trial.to_json(),
        }
        conn.execute(insert(audit_card), [row])
    engine.dispose()
    store.record_cards([new])
    assert [compact is None for _, compact, _ in _stored(database_url)] == [True, False]

    for card in (old, new):
        got = store.get_card(card.card_uuid)
        assert got is not None
        assert orjson.dumps(got.report) == orjson.dumps(card.trial.to_json())
    listed = {c.card_uuid: c.report for c in store.list_cards(CardFilter()).items}
    assert listed == {old.card_uuid: old.trial.to_json(), new.card_uuid: new.trial.to_json()}
    exported = "".join(store.export_csv(CardFilter()))
    assert "Observation/old" in exported
    assert "Observation/new" in exported


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_report_unlike_its_skeleton_is_stored_whole(store: AuditStore, database_url: str) -> None:
    """Same trial version, other wording (a service that words a criterion differently): kept exactly."""
    card = make_card()
    reworded = dataclasses.replace(card.trial.criteria[0], text="Diagnosed with SLE, reworded")
    other = make_card(trial=dataclasses.replace(card.trial, criteria=(reworded, *card.trial.criteria[1:])))
    store.record_cards([card, other])
    assert [compact is None for _, compact, _ in _stored(database_url)] == [False, True]
    got = store.get_card(other.card_uuid)
    assert got is not None
    assert got.report == other.trial.to_json()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_skeleton_per_trial_version_shared_by_processes(store: AuditStore, database_url: str) -> None:
    cards = [make_card(), make_card(evidence=("Observation/x",)), make_card(trial_id="KYSA")]
    store.record_cards(cards[:2])
    other = AuditStore(database_url)
    other.record_cards(cards[2:])
    other.record_cards([make_card()])
    other.close()
    assert _skeletons(database_url) == 2  # CASTLE and KYSA, each once
    for card in cards:
        got = store.get_card(card.card_uuid)
        assert got is not None
        assert got.report == card.trial.to_json()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rolled_back_skeleton_is_not_remembered(store: AuditStore) -> None:
    """The batch that first stored a trial's skeleton failed: the next card of that trial stores it again."""
    first = make_card()
    store.record_cards([first])
    with pytest.raises(AuditConflictError):
        store.record_cards([make_card(trial_id="KYSA"), make_card(card_uuid=first.card_uuid)])
    later = make_card(trial_id="KYSA")
    store.record_cards([later])
    got = store.get_card(later.card_uuid)
    assert got is not None
    assert got.report == later.trial.to_json()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_skeletons_hold_no_patient_data_and_outlive_a_purge(store: AuditStore, database_url: str) -> None:
    card = make_card(evidence=("Observation/hb-1",), patient_ref="Patient/secret")
    skeleton = skeleton_json(card.trial)
    assert skeleton is not None
    assert b"Observation/" not in skeleton  # no evidence
    assert b"neutrophil count within" not in skeleton  # nothing missing
    assert b'"met"' not in skeleton  # no results
    store.record_cards([card])
    assert store.purge(T0.replace(year=T0.year + 1)) == 1
    assert _skeletons(database_url) == 1
    later = make_card()
    store.record_cards([later])
    got = store.get_card(later.card_uuid)
    assert got is not None
    assert got.report == later.trial.to_json()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_nul_in_the_varying_parts_is_refused_and_dead_lettered(store: AuditStore) -> None:
    card = make_card(evidence=("Observation/\x00",))
    with pytest.raises(AuditRejectedError):
        store.record_cards([card])
    assert store.submit_cards([card])
    assert store.flush(5.0)
    assert store.get_card(card.card_uuid) is None
    assert store.health()["deadLetters"] == 1
