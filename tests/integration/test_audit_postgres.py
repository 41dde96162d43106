"""Audit store on a real PostgreSQL: what only PostgreSQL can show.

The store contract itself (round trip, feedback, filters, pagination, CSV, purge, concurrency, migrations
from scratch, processes migrating at once) runs on PostgreSQL from ``tests/unit/audit/test_audit_store.py``
and ``test_audit_migrations.py`` under the same ``integration`` mark:
``pytest -m integration tests/unit/audit tests/integration/test_audit_postgres.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import IntegrityError

from service.audit.store import AuditError, AuditStore, CardFilter
from tests.unit.audit.audit_helpers import fresh_database, make_card, make_feedback

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_database("audit_it") as url:
        store = AuditStore(url)
        store.migrate()
        store.close()
        yield url


@pytest.fixture
def store(pg_url: str) -> Iterator[AuditStore]:
    s = AuditStore(pg_url)
    yield s
    s.close()


def test_native_column_types(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        types = dict(
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_name IN ('audit_card', 'audit_feedback')"
                )
            ).all()
        )
    engine.dispose()
    assert types["audit_card.id"] == "bigint"
    assert "audit_card.criteria" not in types  # the report is stored once (revision 0002)
    assert types["audit_card.report"] == "jsonb"
    assert types["audit_feedback.accepted_suggestions"] == "jsonb"
    assert types["audit_card.created_at"] == "timestamp with time zone"
    assert types["audit_feedback.outcome_timestamp"] == "timestamp with time zone"


def test_jsonb_evidence_is_queryable(store: AuditStore, pg_url: str) -> None:
    card = make_card(evidence=("Observation/hb-1", "Condition/sle"))
    store.record_cards([card, make_card()])
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        hits = conn.execute(
            text(
                "SELECT card_uuid FROM audit_card WHERE report @> "
                '\'{"criteria": [{"evidence": [{"reference": "Observation/hb-1"}]}]}\''
            )
        ).scalars()
        assert list(hits) == [card.card_uuid]
    engine.dispose()


def test_database_enforces_outcome_and_foreign_key(pg_url: str) -> None:
    engine = create_engine(pg_url)
    now = dt.datetime.now(dt.UTC)
    row = {"u": "ghost", "o": "accepted", "t": now}
    sql = text(
        "INSERT INTO audit_feedback (card_uuid, outcome, accepted_suggestions, outcome_timestamp, "
        "received_at) VALUES (:u, :o, '[]', :t, :t)"
    )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sql, row)  # unknown card
    card = make_card()
    s = AuditStore(pg_url)
    s.record_cards([card])
    s.close()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sql, {**row, "u": card.card_uuid, "o": "ignored"})
    engine.dispose()


def test_session_time_zone_does_not_leak(pg_url: str) -> None:
    url = make_url(pg_url).update_query_dict({"options": "-c timezone=America/New_York"})
    s = AuditStore(url.render_as_string(hide_password=False))
    created = dt.datetime(2026, 5, 1, 23, 30, tzinfo=dt.UTC)
    card = make_card(created_at=created)
    s.record_cards([card])
    s.record_feedback([make_feedback(card.card_uuid, outcome_timestamp=created)])
    got = s.get_card(card.card_uuid)
    assert got is not None
    assert got.created_at == created
    assert got.created_at.tzinfo == dt.UTC
    assert got.feedback[0].outcome_timestamp.tzinfo == dt.UTC
    same_day = CardFilter(start=dt.datetime(2026, 5, 1, tzinfo=dt.UTC), end=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    assert [c.card_uuid for c in s.list_cards(same_day).items] == [card.card_uuid]
    s.close()


def test_plain_postgresql_url_uses_psycopg(pg_url: str) -> None:
    plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    s = AuditStore(plain)
    s.migrate()
    assert isinstance(s.counts(CardFilter()), dict)
    s.close()


def test_unreachable_database_is_an_audit_error() -> None:
    s = AuditStore("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(AuditError):
        s.record_cards([make_card()])
    with pytest.raises(AuditError):
        s.list_cards(CardFilter())
    with pytest.raises(AuditError):
        list(s.export_csv(CardFilter()))
    s.close()


def test_queued_cards_do_not_hang_reads_while_the_database_is_down(caplog: pytest.LogCaptureFixture) -> None:
    """The queue keeps retrying; a coordinator's read waits a bounded time, then fails clearly; shutdown reports
    the cards it could not write instead of dropping them silently."""
    s = AuditStore("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    assert s.submit_cards([make_card()])
    with pytest.raises(AuditError):
        s.list_cards(CardFilter())
    assert not s.flush(timeout=0.1)
    s.close(timeout=0.5)
    assert "1 card(s) could not be written before shutdown" in caplog.text
