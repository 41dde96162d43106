"""Dead letters (audit rows the database will never take, kept with the reason) and the JWT ids already used.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_dead_letter",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("failed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_dead_letter"),
    )
    op.create_table(
        "audit_jti_seen",
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("token_key", name="pk_audit_jti_seen"),
    )
    op.create_index("ix_audit_jti_seen_expires_at", "audit_jti_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_jti_seen_expires_at", table_name="audit_jti_seen")
    op.drop_table("audit_jti_seen")
    op.drop_table("audit_dead_letter")
