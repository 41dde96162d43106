"""Reports stored compact (SQLite): what varies per patient in `report_compact`, the rest once per trial version.

Existing rows keep their `report` and read as before; new SQLite rows hold JSON null there, the varying parts in
`report_compact` and the id of their skeleton (`audit_report_skeleton`) in `report_skeleton`, see
`service/audit/report_codec.py`. Downgrading puts every compact report back into `report` whole.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 11:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_report_skeleton",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_report_skeleton"),
        sa.UniqueConstraint("digest", name="uq_audit_report_skeleton_digest"),
    )
    # nullable columns without default: added in place on both backends, no table rebuild
    op.add_column("audit_card", sa.Column("report_compact", sa.LargeBinary(), nullable=True))
    op.add_column("audit_card", sa.Column("report_skeleton", _ID, nullable=True))


def downgrade() -> None:
    from service.audit.report_codec import ReportCodec  # the one reader of the compact form

    card = sa.table(
        "audit_card",
        sa.column("id"),
        sa.column("report", _JSON),
        sa.column("report_compact"),
        sa.column("report_skeleton"),
    )
    connection = op.get_bind()
    codec = ReportCodec(compact=False)
    compact = sa.select(card.c.id, card.c.report_compact, card.c.report_skeleton).where(
        card.c.report_compact.is_not(None)
    )
    for row_id, packed, skeleton in connection.execute(compact).all():
        report = codec.report(connection, None, packed, skeleton)
        connection.execute(sa.update(card).where(card.c.id == row_id).values(report=report))
    for column in ("report_skeleton", "report_compact"):
        op.execute(f"ALTER TABLE audit_card DROP COLUMN {column}")
    op.drop_table("audit_report_skeleton")
