"""Reports stored compressed (SQLite): `report_z` beside `report`, primed with a dictionary per trial version.

Existing rows keep their `report` and read as before; new SQLite rows hold JSON null there and the report in
`report_z` (see `service/audit/report_codec.py`). Downgrading puts every compressed report back into `report`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 11:30:00
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson
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
        "audit_report_dict",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_report_dict"),
        sa.UniqueConstraint("digest", name="uq_audit_report_dict_digest"),
    )
    # nullable columns without default: added in place on both backends, no table rebuild
    op.add_column("audit_card", sa.Column("report_z", sa.LargeBinary(), nullable=True))
    op.add_column("audit_card", sa.Column("report_dict", _ID, nullable=True))


def downgrade() -> None:
    card = sa.table(
        "audit_card", sa.column("id"), sa.column("report", _JSON), sa.column("report_z"), sa.column("report_dict")
    )
    dictionary = sa.table("audit_report_dict", sa.column("id"), sa.column("content"))
    connection = op.get_bind()
    contents = dict(connection.execute(sa.select(dictionary.c.id, dictionary.c.content)).all())
    packed = sa.select(card.c.id, card.c.report_z, card.c.report_dict).where(card.c.report_z.is_not(None))
    for row_id, report_z, report_dict in connection.execute(packed).all():
        unpacker = zlib.decompressobj(-15, zdict=contents[report_dict])
        report = orjson.loads(unpacker.decompress(report_z) + unpacker.flush())
        connection.execute(sa.update(card).where(card.c.id == row_id).values(report=report))
    for column in ("report_dict", "report_z"):
        op.execute(f"ALTER TABLE audit_card DROP COLUMN {column}")
    op.drop_table("audit_report_dict")
