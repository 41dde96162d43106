"""The audit trail store: every card returned to an EHR, and the feedback on it.

Synchronous API (the service calls it through a threadpool). One engine per store, shared by all threads.
The hook hands its cards to ``submit_cards`` (a write-behind queue, ``write_behind.py``) and answers without
waiting for the database; every read, feedback and purge first waits for that queue to drain.

SQLite (the embedded default): WAL, ``synchronous=NORMAL``, ``busy_timeout=5000``, foreign keys on. Write
transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing on a lock upgrade, and a write that still finds the database locked is retried a bounded number of
times. PostgreSQL: ``pool_pre_ping``; serialization failures and deadlocks are retried the same way.

Time is tz-aware UTC throughout; a naive datetime is refused with ``AuditError``. Date ranges are
half-open: ``start <= created_at < end``. A card's *outcome* is that of its latest feedback (by outcome
time, then arrival); a card without feedback has outcome ``"none"``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import datetime as dt
import io
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson
from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.selectable import NamedFromClause

from service.audit.errors import AuditConflictError, AuditError, AuditRequestError
from service.audit.tables import FeedbackOutcome, audit_card, audit_feedback
from service.audit.write_behind import WriteBehind
from service.screening.contract import TrialReport
from service.screening.prescreen import CardRecord

__all__ = [
    "NO_FEEDBACK",
    "AuditError",
    "AuditRequestError",
    "AuditStore",
    "AuditedCard",
    "CardFilter",
    "CardRecord",
    "FeedbackOutcome",
    "FeedbackRecord",
    "Page",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_WRITE_OPTION: Final = "trial_screen_audit_write"
_MAX_ATTEMPTS: Final = 6
# Reads, feedback and purge first wait for queued cards, but never forever: while the database is down the
# queue cannot drain, and the read itself will then fail with a clear AuditError instead of hanging.
_QUEUE_WAIT_SECONDS: Final = 5.0
_MAX_LIMIT: Final = 1000
_PG_MIGRATION_LOCK: Final = 0x7472_6961_6C61  # pg_advisory_xact_lock key ("triala")
_PG_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_FEEDBACK_OUTCOMES: Final = frozenset(o.value for o in FeedbackOutcome)
NO_FEEDBACK: Final = "none"  # the outcome filter for cards without feedback
_OUTCOME_FILTERS: Final = _FEEDBACK_OUTCOMES | {NO_FEEDBACK}
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


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """What the clinician did with a card (CDS Hooks feedback)."""

    card_uuid: str
    outcome: str  # "accepted" | "overridden"
    override_reason_code: str | None
    override_reason_display: str | None
    user_comment: str | None
    accepted_suggestions: list[str]
    outcome_timestamp: dt.datetime  # tz-aware


@dataclass(frozen=True, slots=True)
class CardFilter:
    """All given conditions must hold. ``start`` is inclusive, ``end`` exclusive."""

    patient: str | None = None
    trial: str | None = None
    status: str | None = None
    outcome: str | None = None  # "accepted" | "overridden" | "none"
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditedCard:
    """A stored card: what was shown, the trial report it rested on (as stored), and all its feedback, oldest
    first."""

    card_uuid: str
    hook_instance: str
    patient_ref: str
    fhir_server: str | None
    user_ref: str | None
    trial_id: str
    trial_status: str
    trial_version: str
    service_version: str
    report: dict[str, Any]  # the trial's report in the contract's JSON form
    summary: str
    created_at: dt.datetime
    feedback: list[FeedbackRecord]

    def trial_report(self) -> TrialReport | None:
        """The stored report as the contract's types; None when the row holds no readable report."""
        try:
            return TrialReport.from_json(self.report)
        except ValidationError:
            return None

    @property
    def evidence_refs(self) -> list[str]:
        return evidence_references(self.report)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[AuditedCard]
    next_cursor: str | None


class AuditStore:
    def __init__(self, database_url: str) -> None:
        try:
            url = make_url(database_url)
        except SQLAlchemyError as exc:
            raise AuditError("invalid database URL") from exc
        self._backend = url.get_backend_name()
        # SQLite has one writer at a time: threads of this process queue on a lock instead of sleeping in
        # SQLite's busy handler (which is what made tail latency spike under load); other processes still
        # wait on busy_timeout.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if self._backend == "sqlite" else contextlib.nullcontext()
        )
        if self._backend == "sqlite":
            memory = url.database in (None, "", ":memory:")
            if not memory and url.database and not url.database.startswith("file:"):
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 5.0},
                hide_parameters=True,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
                **({"poolclass": StaticPool} if memory else {}),
            )
            event.listen(self._engine, "connect", _sqlite_on_connect)
            event.listen(self._engine, "begin", _sqlite_on_begin)
        elif self._backend == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            self._engine = create_engine(
                url,
                pool_pre_ping=True,
                hide_parameters=True,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
            )
        else:
            raise AuditError(f"unsupported database backend {self._backend!r} (use sqlite or postgresql)")
        self._queue: WriteBehind[CardRecord] = WriteBehind(self._write_queued)

    # -- lifecycle ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision. Idempotent; concurrent callers serialize (a
        PostgreSQL advisory lock, SQLite's write lock) and the later ones find nothing to do."""
        from alembic import command  # only needed at startup: keeps the import light
        from alembic.config import Config
        from alembic.util.exc import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("service.audit") / "migrations"))

        def upgrade(conn: Connection) -> None:
            if self._backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        try:
            self._write(upgrade, what="migrate the audit database")
        except CommandError as exc:
            raise AuditError("audit database migration failed") from exc

    def close(self, timeout: float = 30.0) -> None:
        """Write what the queue holds (for at most `timeout` s), then release the connections."""
        lost = self._queue.close(timeout)
        if lost:
            log.error("audit: %d card(s) could not be written before shutdown", lost)
        self._engine.dispose()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted card is written; False if `timeout` ran out first."""
        return self._queue.flush(timeout)

    # -- writes ------------------------------------------------------------------------------------

    def submit_cards(self, cards: Sequence[CardRecord], timeout: float = 0.0) -> bool:
        """Queue cards for writing and return at once; False (nothing queued) if the queue stayed full for
        `timeout` seconds, which happens only when the database has been failing or falling behind."""
        return self._queue.put(cards, timeout)

    def _write_queued(self, cards: Sequence[CardRecord]) -> None:
        """One batch from the queue. A card that can never be stored (its uuid is already there, or it is
        malformed) is logged and skipped, so that it cannot hold up the cards behind it; any other failure is
        retried."""
        try:
            self.record_cards(cards)
        except (AuditConflictError, AuditRequestError):
            for card in cards:
                try:
                    self.record_cards([card])
                except (AuditConflictError, AuditRequestError) as exc:
                    log.error("audit: a card that can never be stored was skipped: %s", exc)

    def record_cards(self, cards: Sequence[CardRecord]) -> None:
        """Store all cards in one transaction. A card uuid that is already stored raises AuditError
        (and nothing of the batch is stored)."""
        if not cards:
            return
        rows = [_card_row(card) for card in cards]
        if len({row["card_uuid"] for row in rows}) != len(rows):
            raise AuditConflictError("duplicate card uuid in one batch")

        def write(conn: Connection) -> None:
            conn.execute(insert(audit_card), rows)

        self._write(write, what="record cards")

    def record_feedback(self, feedback: Sequence[FeedbackRecord]) -> list[str]:
        """Store feedback for known cards in one transaction; return the unknown card uuids (not
        stored), each once, in input order."""
        if not feedback:
            return []
        self.flush(_QUEUE_WAIT_SECONDS)
        received_at = dt.datetime.now(dt.UTC)
        rows = [_feedback_row(item, received_at) for item in feedback]
        uuids = list(dict.fromkeys(row["card_uuid"] for row in rows))

        def write(conn: Connection) -> list[str]:
            # FOR SHARE (PostgreSQL): a concurrent purge cannot delete a card between this check and
            # the insert. SQLite's BEGIN IMMEDIATE already excludes other writers.
            known = set(
                conn.scalars(
                    select(audit_card.c.card_uuid).where(audit_card.c.card_uuid.in_(uuids)).with_for_update(read=True)
                )
            )
            stored = [row for row in rows if row["card_uuid"] in known]
            if stored:
                conn.execute(insert(audit_feedback), stored)
            return [uuid for uuid in uuids if uuid not in known]

        return self._write(write, what="record feedback")

    def purge(self, older_than: dt.datetime) -> int:
        """Delete the cards created before ``older_than`` and their feedback; return how many cards."""
        cutoff = _aware(older_than, "older_than")
        self.flush(_QUEUE_WAIT_SECONDS)

        def write(conn: Connection) -> int:
            old = select(audit_card.c.card_uuid).where(audit_card.c.created_at < cutoff)
            conn.execute(delete(audit_feedback).where(audit_feedback.c.card_uuid.in_(old)))
            return conn.execute(delete(audit_card).where(audit_card.c.created_at < cutoff)).rowcount

        return self._write(write, what="purge cards")

    # -- reads -------------------------------------------------------------------------------------

    def list_cards(self, flt: CardFilter, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first, keyset-paginated on (created_at, id). ``next_cursor`` is None on the last page."""
        if not 1 <= limit <= _MAX_LIMIT:
            raise AuditRequestError(f"limit must be between 1 and {_MAX_LIMIT}")
        from_, _latest, conds = _filtered(flt)
        if cursor is not None:
            after_time, after_id = _decode_cursor(cursor)
            conds.append(
                or_(
                    audit_card.c.created_at < after_time,
                    and_(audit_card.c.created_at == after_time, audit_card.c.id < after_id),
                )
            )
        stmt = (
            select(audit_card)
            .select_from(from_)
            .where(*conds)
            .order_by(audit_card.c.created_at.desc(), audit_card.c.id.desc())
            .limit(limit + 1)
        )

        def read(conn: Connection) -> Page:
            rows = conn.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            items = _with_feedback(conn, rows)
            last = rows[-1] if more else None
            return Page(items, _encode_cursor(last.created_at, last.id) if last is not None else None)

        return self._read(read, what="list cards")

    def get_card(self, card_uuid: str) -> AuditedCard | None:
        def read(conn: Connection) -> AuditedCard | None:
            rows = conn.execute(select(audit_card).where(audit_card.c.card_uuid == card_uuid)).all()
            items = _with_feedback(conn, rows)
            return items[0] if items else None

        return self._read(read, what="read a card")

    def counts(self, flt: CardFilter) -> dict[str, dict[str, int]]:
        """Per trial id: {"cards": n, "accepted": n, "overridden": n, "no-feedback": n}."""
        from_, latest, conds = _filtered(flt)
        stmt = (
            select(audit_card.c.trial_id, latest.c.outcome, func.count().label("n"))
            .select_from(from_)
            .where(*conds)
            .group_by(audit_card.c.trial_id, latest.c.outcome)
        )

        def read(conn: Connection) -> dict[str, dict[str, int]]:
            result: dict[str, dict[str, int]] = {}
            for trial_id, outcome, n in conn.execute(stmt):
                per_trial = result.setdefault(trial_id, {"cards": 0, "accepted": 0, "overridden": 0, "no-feedback": 0})
                per_trial["cards"] += n
                per_trial[outcome if outcome is not None else "no-feedback"] += n
            return dict(sorted(result.items()))

        return self._read(read, what="count cards")

    def export_csv(self, flt: CardFilter) -> Iterator[str]:
        """CSV lines (header first, CRLF-terminated), newest card first, streamed from the database.
        ``outcome``, ``override_reason`` (display, else code) and ``outcome_timestamp`` are those of the
        latest feedback. Cells that a spreadsheet would run as a formula are prefixed with ``'``."""
        from_, latest, conds = _filtered(flt)
        stmt = (
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
            )
            .select_from(from_)
            .where(*conds)
            .order_by(audit_card.c.created_at.desc(), audit_card.c.id.desc())
        )
        return self._stream_csv(stmt)

    def _stream_csv(self, stmt: Any) -> Iterator[str]:
        self.flush(_QUEUE_WAIT_SECONDS)  # on the first line pulled, like every other read
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def line(values: Sequence[Any]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_csv_cell(value) for value in values])
            return buffer.getvalue()

        try:
            with self._engine.connect() as conn:
                conn.execution_options(stream_results=True, yield_per=500)
                with conn.begin():
                    result = conn.execute(stmt)
                    # the header comes after the query started, so a caller that pulls the first line
                    # before sending a response sees a database failure as AuditError, not a cut stream
                    yield line(CSV_COLUMNS)
                    for row in result:
                        yield line(
                            [
                                *row[:-1],
                                " ".join(evidence_references(row[-1])),
                            ]
                        )
        except SQLAlchemyError as exc:
            raise AuditError("could not export cards") from exc

    # -- transactions ------------------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T], *, what: str) -> T:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self._write_lock, self._engine.connect() as conn:
                    conn.execution_options(**{_WRITE_OPTION: True})
                    with conn.begin():
                        return work(conn)
            except IntegrityError as exc:
                raise AuditConflictError(f"could not {what}: constraint violated (duplicate card uuid?)") from exc
            except DBAPIError as exc:
                if attempt < _MAX_ATTEMPTS and _retryable(exc):
                    delay = min(0.02 * 2**attempt, 1.0) * (0.5 + random.random())  # noqa: S311
                    log.warning("audit: %s: database busy, retry %d in %.3fs", what, attempt, delay)
                    time.sleep(delay)
                    continue
                raise AuditError(f"could not {what}: {type(exc.orig).__name__}") from exc
            except SQLAlchemyError as exc:
                raise AuditError(f"could not {what}: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, work: Callable[[Connection], T], *, what: str) -> T:
        self.flush(_QUEUE_WAIT_SECONDS)
        try:
            with self._engine.connect() as conn, conn.begin():
                return work(conn)
        except SQLAlchemyError as exc:
            raise AuditError(f"could not {what}: {type(exc).__name__}") from exc


# -- engine events (SQLite) --------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    """orjson for the report columns: the stored reports are the bulk of every audit write."""
    return orjson.dumps(value).decode()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit transactions are off).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    return getattr(orig, "sqlstate", None) in _PG_RETRY_SQLSTATES


# -- rows and queries ----------------------------------------------------------------------------------


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise AuditRequestError(f"{name} must be a tz-aware datetime")
    return value.astimezone(dt.UTC)


def evidence_references(report: Any) -> list[str]:
    """The records a stored report rests on, each once, sorted (nothing for a malformed report)."""
    criteria = report.get("criteria") if isinstance(report, dict) else None
    return sorted(
        {
            evidence["reference"]
            for criterion in criteria or ()
            if isinstance(criterion, dict)
            for evidence in criterion.get("evidence") or ()
            if isinstance(evidence, dict) and isinstance(evidence.get("reference"), str)
        }
    )


def _card_row(card: CardRecord) -> dict[str, Any]:
    if not card.card_uuid:
        raise AuditRequestError("card without uuid")
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
        "report": card.trial.to_json(),
        "summary": card.summary,
        "created_at": _aware(card.created_at, "created_at"),
    }


def _feedback_row(item: FeedbackRecord, received_at: dt.datetime) -> dict[str, Any]:
    if item.outcome not in _FEEDBACK_OUTCOMES:
        raise AuditRequestError("feedback outcome must be 'accepted' or 'overridden'")
    if not isinstance(item.accepted_suggestions, list):
        raise AuditRequestError("accepted_suggestions must be a list")
    return {
        "card_uuid": item.card_uuid,
        "outcome": item.outcome,
        "override_reason_code": item.override_reason_code,
        "override_reason_display": item.override_reason_display,
        "user_comment": item.user_comment,
        "accepted_suggestions": item.accepted_suggestions,
        "outcome_timestamp": _aware(item.outcome_timestamp, "outcome_timestamp"),
        "received_at": received_at,
    }


def _filtered(flt: CardFilter) -> tuple[FromClause, NamedFromClause, list[ColumnElement[bool]]]:
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
        conds.append(audit_card.c.created_at >= _aware(flt.start, "start"))
    if flt.end is not None:
        conds.append(audit_card.c.created_at < _aware(flt.end, "end"))
    return from_, latest, conds


def _with_feedback(conn: Connection, rows: Sequence[Row[Any]]) -> list[AuditedCard]:
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
            report=dict(row.report),
            summary=row.summary,
            created_at=row.created_at,
            feedback=feedback[row.card_uuid],
        )
        for row in rows
    ]


def _encode_cursor(created_at: dt.datetime, row_id: int) -> str:
    payload = json.dumps({"v": 1, "t": created_at.isoformat(), "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created_at = dt.datetime.fromisoformat(data["t"])
        row_id = data["i"]
        if data.get("v") != 1 or type(row_id) is not int or created_at.tzinfo is None:
            raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise AuditRequestError("invalid cursor") from exc
    return created_at.astimezone(dt.UTC), row_id


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text_value = str(value)
    if text_value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text_value
    return text_value
