"""The audit trail as CSV: one line per card, newest first, streamed from the database.

``outcome``, ``override_reason`` (display, else code) and ``outcome_timestamp`` are those of the latest feedback;
``evidence_refs`` are the records the card's report rests on. Cells that a spreadsheet would run as a formula are
prefixed with ``'``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any, Final

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from service.audit.errors import AuditError
from service.audit.queries import filtered
from service.audit.records import CardFilter, evidence_references
from service.audit.report_codec import ReportCodec
from service.audit.tables import audit_card

CSV_COLUMNS: Final = (
    "card_uuid",
    "created_at",
    "patient_ref",
    "trial_id",
    "trial_status",
    "trial_version",
    "hook_instance",
    "fhir_server",
    "user_ref",
    "outcome",
    "override_reason",
    "outcome_timestamp",
    "evidence_refs",
)


def export_statement(flt: CardFilter) -> Select[Any]:
    from_, latest, conds = filtered(flt)
    return (
        select(
            audit_card.c.card_uuid,
            audit_card.c.created_at,
            audit_card.c.patient_ref,
            audit_card.c.trial_id,
            audit_card.c.trial_status,
            audit_card.c.trial_version,
            audit_card.c.hook_instance,
            audit_card.c.fhir_server,
            audit_card.c.user_ref,
            latest.c.outcome,
            func.coalesce(latest.c.override_reason_display, latest.c.override_reason_code),
            latest.c.outcome_timestamp,
            audit_card.c.report,
            audit_card.c.report_compact,
            audit_card.c.report_skeleton,
        )
        .select_from(from_)
        .where(*conds)
        .order_by(audit_card.c.created_at.desc(), audit_card.c.id.desc())
    )


def csv_lines(engine: Engine, statement: Select[Any], reports: ReportCodec) -> Iterator[str]:
    """CRLF-terminated lines, the header first, pulled from one streaming query."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Sequence[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(value) for value in values])
        return buffer.getvalue()

    try:
        with engine.connect() as conn:
            conn.execution_options(stream_results=True, yield_per=500)
            with conn.begin():
                result = conn.execute(statement)
                # the header comes after the query started, so a caller that pulls the first line
                # before sending a response sees a database failure as AuditError, not a cut stream
                yield line(CSV_COLUMNS)
                for *cells, report, compact, skeleton in result:
                    stored = reports.report(conn, report, compact, skeleton)
                    yield line([*cells, " ".join(evidence_references(stored))])
    except SQLAlchemyError as exc:
        raise AuditError("could not export cards") from exc


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text_value = str(value)
    if text_value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text_value
    return text_value
