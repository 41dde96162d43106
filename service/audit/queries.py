"""The audit store's rows and queries: cards and feedback as rows, the filter as SQL, stored rows back as records,
and the keyset cursor of a page. Time is tz-aware UTC; a naive datetime is refused."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from sqlalchemy import ColumnElement, Connection, FromClause, Row, Table, select
from sqlalchemy.sql.selectable import NamedFromClause

from service.audit.errors import AuditRejectedError, AuditRequestError
from service.audit.records import NO_FEEDBACK, AuditedCard, CardFilter, FeedbackRecord
from service.audit.report_codec import ReportCodec
from service.audit.tables import FeedbackOutcome, audit_card, audit_feedback
from service.screening.prescreen import CardRecord

_FEEDBACK_OUTCOMES: Final = frozenset(o.value for o in FeedbackOutcome)
_OUTCOME_FILTERS: Final = _FEEDBACK_OUTCOMES | {NO_FEEDBACK}
_MAX_ROW_ID: Final = 2**63  # a row id is a signed 64-bit integer on both backends


def aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise AuditRequestError(f"{name} must be a tz-aware datetime")
    return value.astimezone(dt.UTC)


def storable(row: dict[str, Any], table: Table) -> dict[str, Any]:
    """The row, if every backend will take it: no text longer than its column, no NUL byte anywhere (PostgreSQL
    refuses both, SQLite would take them; checking here makes the two behave alike)."""
    limits = _text_limits(table)
    for name, value in row.items():
        if isinstance(value, str):
            limit = limits.get(name)
            if limit is not None and len(value) > limit:
                raise AuditRejectedError(f"{name} is longer than {limit} characters")
            if "\x00" in value:
                raise AuditRejectedError(f"{name} holds a NUL character")
        elif isinstance(value, dict | list) and b"\\u0000" in orjson.dumps(value):
            raise AuditRejectedError(f"{name} holds a NUL character")
    return row


@functools.cache
def _text_limits(table: Table) -> dict[str, int]:
    """The length limit of each of the table's columns that has one, looked up once: per row and column it cost
    more than the rest of the check."""
    return {column.name: limit for column in table.c if (limit := getattr(column.type, "length", None)) is not None}


def card_row(card: CardRecord, report: Mapping[str, Any]) -> dict[str, Any]:
    """The card as a row, checked; `report` is its report's columns (`report_codec`)."""
    if not card.card_uuid:
        raise AuditRequestError("card without uuid")
    return storable({**card_fields(card, report), "created_at": aware(card.created_at, "created_at")}, audit_card)


def card_fields(card: CardRecord, report: Mapping[str, Any]) -> dict[str, Any]:
    """The card as a row, unchecked (a dead letter keeps whatever it held), with its report's columns."""
    return {
        "card_uuid": card.card_uuid,
        "hook_instance": card.hook_instance,
        "patient_ref": card.patient_ref,
        "fhir_server": card.fhir_server,
        "user_ref": card.user_ref,
        "trial_id": card.trial_id,
        "trial_status": card.trial_status.value,
        "trial_version": card.trial_version,
        "service_version": card.service_version,
        **report,
        "summary": card.summary,
        "created_at": card.created_at,
    }


def feedback_row(item: FeedbackRecord, received_at: dt.datetime) -> dict[str, Any]:
    if item.outcome not in _FEEDBACK_OUTCOMES:
        raise AuditRequestError("feedback outcome must be 'accepted' or 'overridden'")
    if not isinstance(item.accepted_suggestions, list):
        raise AuditRequestError("accepted_suggestions must be a list")
    row = {
        "card_uuid": item.card_uuid,
        "outcome": item.outcome,
        "override_reason_code": item.override_reason_code,
        "override_reason_display": item.override_reason_display,
        "user_comment": item.user_comment,
        "accepted_suggestions": item.accepted_suggestions,
        "outcome_timestamp": aware(item.outcome_timestamp, "outcome_timestamp"),
        "received_at": received_at,
    }
    return storable(row, audit_feedback)


def filtered(flt: CardFilter) -> tuple[FromClause, NamedFromClause, list[ColumnElement[bool]]]:
    """Cards outer-joined to their latest feedback, and the filter's conditions."""
    latest = audit_feedback.alias("latest_feedback")
    latest_id = (
        select(audit_feedback.c.id)
        .where(audit_feedback.c.card_uuid == audit_card.c.card_uuid)
        .order_by(audit_feedback.c.outcome_timestamp.desc(), audit_feedback.c.id.desc())
        .limit(1)
        .correlate(audit_card)
        .scalar_subquery()
    )
    from_ = audit_card.outerjoin(latest, latest.c.id == latest_id)
    conds: list[ColumnElement[bool]] = []
    if flt.patient is not None:
        conds.append(audit_card.c.patient_ref == flt.patient)
    if flt.trial is not None:
        conds.append(audit_card.c.trial_id == flt.trial)
    if flt.status is not None:
        conds.append(audit_card.c.trial_status == flt.status)
    if flt.outcome is not None:
        if flt.outcome not in _OUTCOME_FILTERS:
            raise AuditRequestError("outcome filter must be 'accepted', 'overridden' or 'none'")
        conds.append(latest.c.id.is_(None) if flt.outcome == NO_FEEDBACK else latest.c.outcome == flt.outcome)
    if flt.start is not None:
        conds.append(audit_card.c.created_at >= aware(flt.start, "start"))
    if flt.end is not None:
        conds.append(audit_card.c.created_at < aware(flt.end, "end"))
    return from_, latest, conds


def with_feedback(conn: Connection, rows: Sequence[Row[Any]], reports: ReportCodec) -> list[AuditedCard]:
    if not rows:
        return []
    uuids = [row.card_uuid for row in rows]
    feedback: dict[str, list[FeedbackRecord]] = {uuid: [] for uuid in uuids}
    stmt = (
        select(audit_feedback)
        .where(audit_feedback.c.card_uuid.in_(uuids))
        .order_by(audit_feedback.c.outcome_timestamp, audit_feedback.c.id)
    )
    for fb in conn.execute(stmt):
        feedback[fb.card_uuid].append(
            FeedbackRecord(
                card_uuid=fb.card_uuid,
                outcome=fb.outcome,
                override_reason_code=fb.override_reason_code,
                override_reason_display=fb.override_reason_display,
                user_comment=fb.user_comment,
                accepted_suggestions=list(fb.accepted_suggestions),
                outcome_timestamp=fb.outcome_timestamp,
            )
        )
    return [
        AuditedCard(
            card_uuid=row.card_uuid,
            hook_instance=row.hook_instance,
            patient_ref=row.patient_ref,
            fhir_server=row.fhir_server,
            user_ref=row.user_ref,
            trial_id=row.trial_id,
            trial_status=row.trial_status,
            trial_version=row.trial_version,
            service_version=row.service_version,
            report=dict(reports.report(conn, row.report, row.report_compact, row.report_skeleton)),
            summary=row.summary,
            created_at=row.created_at,
            feedback=feedback[row.card_uuid],
        )
        for row in rows
    ]


def encode_cursor(created_at: dt.datetime, row_id: int) -> str:
    payload = json.dumps({"v": 1, "t": created_at.isoformat(), "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created_at = dt.datetime.fromisoformat(data["t"])
        row_id = data["i"]
        if data.get("v") != 1 or type(row_id) is not int or not 0 < row_id < _MAX_ROW_ID or created_at.tzinfo is None:
            raise ValueError("bad cursor")
        return created_at.astimezone(dt.UTC), row_id
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, OverflowError) as exc:
        raise AuditRequestError("invalid cursor") from exc
