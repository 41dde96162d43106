"""The report's stored forms (`report_codec.py`): compressed on SQLite, JSON before revision 0004 and on
PostgreSQL; every reader gives the same back from either."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from sqlalchemy import create_engine, func, insert, select

from service.audit.errors import AuditConflictError
from service.audit.report_codec import skeleton
from service.audit.store import AuditStore, CardFilter
from service.audit.tables import audit_card, audit_report_dict
from tests.unit.audit.audit_helpers import T0, make_card


def _stored(url: str) -> list[tuple[object, bytes | None, int | None]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_card.c.report, audit_card.c.report_z, audit_card.c.report_dict)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def _dictionaries(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(audit_report_dict)).scalar_one()
    engine.dispose()
    return int(n)


def test_sqlite_stores_the_report_compressed_and_postgresql_as_jsonb(store: AuditStore, database_url: str) -> None:
    card = make_card()
    store.record_cards([card])
    [(report, report_z, report_dict)] = _stored(database_url)
    if store._db.backend == "sqlite":
        assert report is None
        assert report_z is not None
        assert report_dict is not None
    else:
        assert report == card.trial.to_json()
        assert (report_z, report_dict) == (None, None)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_old_and_new_rows_read_alike(store: AuditStore, database_url: str) -> None:
    """A row written as JSON (before revision 0004) and a compressed one: the API's card, the list and the CSV
    give the same for both."""
    old, new = make_card(evidence=("Observation/old",)), make_card(evidence=("Observation/new",))
    engine = create_engine(database_url)
    with engine.begin() as conn:
        fields = {f.name: getattr(old, f.name) for f in dataclasses.fields(old) if f.name != "trial"}
        conn.execute(
            insert(audit_card),
            [
                {
                    **fields,
                    "trial_id": old.trial_id,
                    "trial_status": old.trial_status.value,
                    "report": old.trial.to_json(),
                }
            ],
        )
    engine.dispose()
    store.record_cards([new])
    assert [report_z is None for _, report_z, _ in _stored(database_url)] == [True, False]

    for card in (old, new):
        got = store.get_card(card.card_uuid)
        assert got is not None
        assert got.report == card.trial.to_json()
        assert orjson.dumps(got.report) == orjson.dumps(card.trial.to_json())
        assert got.trial_report() == card.trial
    listed = {c.card_uuid: c.report for c in store.list_cards(CardFilter()).items}
    assert listed == {old.card_uuid: old.trial.to_json(), new.card_uuid: new.trial.to_json()}
    exported = "".join(store.export_csv(CardFilter()))
    assert "Observation/old" in exported
    assert "Observation/new" in exported


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_dictionary_per_trial_version_read_by_a_fresh_process(store: AuditStore, database_url: str) -> None:
    """Other processes (here: stores) share the dictionary row, and one that never wrote reads the cards."""
    cards = [make_card(), make_card(evidence=("Observation/x",)), make_card(trial_id="KYSA")]
    store.record_cards(cards[:2])
    other = AuditStore(database_url)
    other.record_cards(cards[2:])
    other.record_cards([make_card()])
    other.close()
    assert _dictionaries(database_url) == 2  # CASTLE and KYSA, each once

    fresh = AuditStore(database_url)
    try:
        for card in cards:
            got = fresh.get_card(card.card_uuid)
            assert got is not None
            assert got.report == card.trial.to_json()
    finally:
        fresh.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rolled_back_dictionary_is_not_remembered(store: AuditStore) -> None:
    """The batch that first stored a trial's dictionary failed: the next card of that trial stores it again."""
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
def test_dictionaries_hold_no_patient_data_and_outlive_a_purge(store: AuditStore, database_url: str) -> None:
    card = make_card(evidence=("Observation/hb-1",), patient_ref="Patient/secret")
    dictionary = skeleton(card.trial)
    assert b"Observation/" not in dictionary  # no evidence
    assert b"neutrophil count within" not in dictionary  # nothing missing
    assert b'"met"' not in dictionary  # no results
    store.record_cards([card])
    assert store.purge(T0.replace(year=T0.year + 1)) == 1
    assert _dictionaries(database_url) == 1
    store.record_cards([make_card()])
    assert store.counts(CardFilter()) == {"CASTLE": {"cards": 1, "accepted": 0, "overridden": 0, "no-feedback": 1}}
