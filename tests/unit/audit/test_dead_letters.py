"""A card the database will never take goes to the dead letters with the reason; the cards behind it are stored.

Runs on SQLite and on PostgreSQL (the ``store`` fixture), where a too-long value or a NUL byte used to make the
write-behind queue retry for ever and drop every later card.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, insert, select

from service.audit.database import AuditDatabase
from service.audit.errors import AuditRejectedError
from service.audit.store import AuditStore, CardFilter
from service.audit.tables import audit_card, audit_dead_letter
from tests.unit.audit.audit_helpers import make_card, make_trial

POISONS: dict[str, dict[str, Any]] = {
    "long hook instance": {"hook_instance": "h" * 200},
    "long user": {"user_ref": "Practitioner/" + "u" * 300},
    "long FHIR server": {"fhir_server": "https://fhir.example.org/" + "x" * 2048},
    "NUL in hook instance": {"hook_instance": "abc\x00def"},
    "NUL in user": {"user_ref": "Practitioner/\x00"},
    "NUL in a resource id": {"trial": make_trial(evidence=("Observation/o\x001",))},
    "naive time": {"created_at": dt.datetime(2026, 3, 1, 12, 0)},
}


def _dead_letters(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(select(audit_dead_letter).order_by(audit_dead_letter.c.id))]
    engine.dispose()
    return rows


@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poisoned_card_is_dead_lettered_and_the_cards_behind_it_are_stored(
    store: AuditStore, database_url: str, poison: str
) -> None:
    before = [make_card() for _ in range(3)]
    bad = make_card(**POISONS[poison])
    after = [make_card() for _ in range(3)]
    for card in [*before, bad, *after]:  # one at a time, and then all in one batch
        assert store.submit_cards([card])
    assert store.flush(10)
    stored = {c.card_uuid for c in store.list_cards(CardFilter(), limit=100).items}
    assert stored == {c.card_uuid for c in before + after}
    dead = _dead_letters(database_url)
    assert [orjson.loads(d["payload"])["card_uuid"] for d in dead] == [bad.card_uuid]
    assert dead[0]["kind"] == "card"
    assert dead[0]["reason"]
    assert store.health() == {"pending": 0, "deadLetters": 1}


def test_a_batch_with_a_poisoned_card_stores_the_rest_exactly_once(store: AuditStore, database_url: str) -> None:
    good = [make_card() for _ in range(5)]
    duplicate = make_card(card_uuid=good[0].card_uuid)
    store.record_cards(good[:1])
    assert store.submit_cards([*good[1:3], make_card(hook_instance="h" * 129), duplicate, *good[3:]])
    assert store.flush(10)
    assert len(store.list_cards(CardFilter(), limit=100).items) == 5
    reasons = [d["reason"] for d in _dead_letters(database_url)]
    assert reasons[0] == "hook_instance is longer than 128 characters"
    assert reasons[1].startswith("the database refused it")
    assert len(reasons) == 2
    assert store.health()["deadLetters"] == 2


@pytest.mark.integration
def test_postgresql_refusing_a_value_is_a_permanent_error(pg_url: str) -> None:
    """What the row check prevents, the database would answer: a data error, never retried as an outage."""
    db = AuditDatabase(pg_url)
    row = {
        "card_uuid": "x",
        "hook_instance": "h" * 200,
        "patient_ref": "Patient/p",
        "trial_id": "t",
        "trial_status": "eligible",
        "trial_version": "v",
        "service_version": "s",
        "report": {},
        "summary": "s",
        "created_at": dt.datetime.now(dt.UTC),
    }
    with pytest.raises(AuditRejectedError):
        db.write(lambda conn: conn.execute(insert(audit_card), [row]), what="record cards")
    db.dispose()
