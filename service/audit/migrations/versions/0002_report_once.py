"""Store each card's trial report once: drop the `criteria` and `evidence_refs` copies of it.

Both are derived from `report` when read (every row has always held the full report), so existing rows read
as before. Downgrading rebuilds the two columns from the report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_COPIES = ("criteria", "evidence_refs")


def upgrade() -> None:
    for column in _COPIES:
        # plain columns without index or constraint: SQLite (>= 3.35) drops them in place, no table rebuild
        op.execute(f"ALTER TABLE audit_card DROP COLUMN {column}")


def downgrade() -> None:
    for column in _COPIES:
        op.add_column("audit_card", sa.Column(column, _JSON, nullable=False, server_default=sa.text("'[]'")))
    card = sa.table("audit_card", sa.column("id"), sa.column("report", _JSON), *(sa.column(c, _JSON) for c in _COPIES))
    connection = op.get_bind()
    for row_id, report in connection.execute(sa.select(card.c.id, card.c.report)).all():
        criteria = [_criterion(c) for c in report.get("criteria", [])]
        evidence = sorted({ref for c in criteria for ref in c["evidence"]})
        connection.execute(sa.update(card).where(card.c.id == row_id).values(criteria=criteria, evidence_refs=evidence))


def _criterion(reported: dict[str, Any]) -> dict[str, Any]:
    """The shape revision 0001 stored: the report's criterion with evidence as bare references, no text."""
    return {
        "id": reported["id"],
        "cohort": reported["cohort"],
        "kind": reported["kind"],
        "result": reported["result"],
        "evidence": [e["reference"] for e in reported["evidence"]],
        "missing": reported["missing"],
    }
