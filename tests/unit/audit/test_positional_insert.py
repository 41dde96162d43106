"""The audit database's own insert (`AuditDatabase.insert`: positional parameters on SQLite) stores exactly the rows
SQLAlchemy Core's insert stores: every column, its stored type and bytes, on both backends."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from service.audit.database import AuditDatabase
from service.audit.queries import card_row
from service.audit.report_codec import ReportCodec
from service.audit.tables import audit_card
from tests.unit.audit.audit_helpers import T0, make_card, make_trial

_COLUMNS = [column.name for column in audit_card.c if column.name != "id"]
Insert = Callable[[AuditDatabase, Connection, Sequence[dict[str, Any]]], None]


def cards() -> list[Any]:
    odd_zone = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    return [
        make_card(),
        make_card(fhir_server=None, user_ref=None, evidence=()),
        make_card(created_at=dt.datetime(2026, 12, 7, 23, 59, 59, 123456, tzinfo=odd_zone)),
        make_card(created_at=T0.replace(microsecond=1), summary='Éligible – ✓ \u2028 "quoted" \' \\ \t'),
        make_card(trial=dataclasses.replace(make_trial("LUPUS-2", "ineligible"), registry_id="NCT0001")),
        make_card(trial_id="LUPUS-3", trial_status="eligible", evidence=("Condition/ü", "Observation/2")),
    ]


def stored(db: AuditDatabase, rows: Callable[[Connection], list[dict[str, Any]]], write: Insert) -> list[Any]:
    """The table's rows after writing `rows` with `write` into an emptied table, as the database holds them."""
    db.write(lambda conn: conn.execute(delete(audit_card)), what="empty")
    db.write(lambda conn: write(db, conn, rows(conn)), what="write")
    with db.engine.connect() as conn:
        if db.backend == "sqlite":  # the stored type and bytes of each value, as SQLite holds it
            query = ", ".join(f"typeof({name}), quote({name})" for name in _COLUMNS)
            return list(conn.exec_driver_sql(f"SELECT {query} FROM audit_card ORDER BY id").all())
        return list(conn.execute(select(*(audit_card.c[name] for name in _COLUMNS)).order_by(audit_card.c.id)))


def core(_db: AuditDatabase, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(insert(audit_card), rows)


def own(db: AuditDatabase, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    db.insert(conn, audit_card, rows)


def test_the_databases_insert_stores_the_rows_of_the_core_insert(database_url: str) -> None:
    db = AuditDatabase(database_url)
    db.migrate()
    batch = cards()
    again = [dataclasses.replace(card, card_uuid=f"{card.card_uuid}-whole") for card in batch]
    compact, plain = ReportCodec(compact=True), ReportCodec(compact=False)

    def rows(conn: Connection) -> list[dict[str, Any]]:
        used: dict[Any, Any] = {}
        packed = [card_row(card, compact.columns(conn, card, used)) for card in batch]
        assert db.backend != "sqlite" or all(row["report_compact"] for row in packed)
        return [*packed, *(card_row(card, plain.columns(conn, card, used)) for card in again)]

    try:
        expected = stored(db, rows, core)
        assert len(expected) == 2 * len(batch)
        assert stored(db, rows, own) == expected
    finally:
        db.dispose()
