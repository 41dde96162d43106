"""Audit trail: one row per card returned, and the feedback on it.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_card",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("patient_ref", sa.String(256), nullable=False),
        sa.Column("fhir_server", sa.String(2048), nullable=True),
        sa.Column("user_ref", sa.String(256), nullable=True),
        sa.Column("trial_id", sa.String(128), nullable=False),
        sa.Column("trial_status", sa.String(64), nullable=False),
        sa.Column("trial_version", sa.String(128), nullable=False),
        sa.Column("service_version", sa.String(64), nullable=False),
        sa.Column("criteria", _JSON, nullable=False),
        sa.Column("evidence_refs", _JSON, nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_card"),
        sa.UniqueConstraint("card_uuid", name="uq_audit_card_card_uuid"),
    )
    op.create_index("ix_audit_card_patient_ref_created_at", "audit_card", ["patient_ref", "created_at"])
    op.create_index("ix_audit_card_trial_id_created_at", "audit_card", ["trial_id", "created_at"])
    op.create_index("ix_audit_card_created_at_id", "audit_card", ["created_at", "id"])

    op.create_table(
        "audit_feedback",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason_code", sa.String(256), nullable=True),
        sa.Column("override_reason_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("accepted_suggestions", _JSON, nullable=False),
        sa.Column("outcome_timestamp", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_feedback"),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["audit_card.card_uuid"],
            name="fk_audit_feedback_card_uuid_audit_card",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_audit_feedback_outcome"),
    )
    op.create_index(
        "ix_audit_feedback_card_uuid_outcome_timestamp",
        "audit_feedback",
        ["card_uuid", "outcome_timestamp"],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_feedback_card_uuid_outcome_timestamp", table_name="audit_feedback")
    op.drop_table("audit_feedback")
    op.drop_index("ix_audit_card_created_at_id", table_name="audit_card")
    op.drop_index("ix_audit_card_trial_id_created_at", table_name="audit_card")
    op.drop_index("ix_audit_card_patient_ref_created_at", table_name="audit_card")
    op.drop_table("audit_card")
