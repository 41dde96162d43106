"""Audit trail tables (SQLAlchemy Core), portable across SQLite and PostgreSQL.

Kept apart from the HTTP schemas. The Alembic migrations in ``migrations/versions`` create exactly these
tables, and a new, empty database is made straight from them (``database.py``); ``tests/unit/audit`` checks that
the two agree, column order and constraint names included.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# BIGINT identity on PostgreSQL; INTEGER PRIMARY KEY (the rowid alias, autoincrementing) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Json(TypeDecorator[Any]):
    """Plain JSON on SQLite, JSONB on PostgreSQL. The PostgreSQL dialect (~40 ms to import) is imported only when
    a PostgreSQL database is used, not by every start of a service on SQLite."""

    impl = JSON
    cache_ok = True
    should_evaluate_none = True  # Python None is stored as JSON null, as by JSON itself

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class FeedbackOutcome(StrEnum):
    """What the clinician did with a card (CDS Hooks feedback)."""

    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always tz-aware UTC in Python.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone type, so the value is stored as naive UTC
    text (fixed width, so text order is time order) and UTC is attached again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: audit timestamps must be tz-aware")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


audit_card = Table(
    "audit_card",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("card_uuid", String(64), nullable=False, unique=True),
    Column("hook_instance", String(128), nullable=False),
    Column("patient_ref", String(256), nullable=False),
    Column("fhir_server", String(2048), nullable=True),
    Column("user_ref", String(256), nullable=True),
    Column("trial_id", String(128), nullable=False),
    Column("trial_status", String(64), nullable=False),
    Column("trial_version", String(128), nullable=False),
    Column("service_version", String(64), nullable=False),
    Column("report", Json, nullable=False),  # JSON null when the report is in report_compact (`report_codec.py`)
    Column("summary", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # last, where revision 0004 added them: a new database made from these tables has the migrated column order
    Column("report_compact", LargeBinary, nullable=True),  # what varies, beside the skeleton report_skeleton
    Column("report_skeleton", BigId, nullable=True),  # audit_report_skeleton.id (skeletons are never deleted)
    Index("ix_audit_card_patient_ref_created_at", "patient_ref", "created_at"),
    Index("ix_audit_card_trial_id_created_at", "trial_id", "created_at"),
    Index("ix_audit_card_created_at_id", "created_at", "id"),
)

# What compact reports leave out: a trial version's report without any patient (`report_codec.py`).
audit_report_skeleton = Table(
    "audit_report_skeleton",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),  # sha256 of content: stored once by every process
    Column("content", LargeBinary, nullable=False),
)

audit_feedback = Table(
    "audit_feedback",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "card_uuid",
        String(64),
        ForeignKey("audit_card.card_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("outcome", String(16), nullable=False),
    Column("override_reason_code", String(256), nullable=True),
    Column("override_reason_display", Text, nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("accepted_suggestions", Json, nullable=False),
    Column("outcome_timestamp", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    # revision 0001 gave its full name, to which the naming convention added the prefix once more: the same here
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_audit_feedback_outcome"),
    Index("ix_audit_feedback_card_uuid_outcome_timestamp", "card_uuid", "outcome_timestamp"),
)

audit_dead_letter = Table(
    "audit_dead_letter",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # "card"
    Column("reason", Text, nullable=False),
    # the row as JSON text, with NUL bytes and every other character escaped, so that the database takes it
    Column("payload", Text, nullable=False),
    Column("failed_at", UtcDateTime(), nullable=False),
)

audit_jti_seen = Table(
    "audit_jti_seen",
    metadata,
    Column("token_key", String(64), primary_key=True),  # sha256 of (issuer, jti): fixed width, any jti
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_audit_jti_seen_expires_at", "expires_at"),
)
