"""The audit trail store: every card returned to an EHR, and the feedback on it.

Synchronous API (the service calls it through a threadpool). One engine per store, shared by all threads
(`database.py`). The hook hands its cards to ``submit_cards`` (a write-behind queue, ``write_behind.py``) and
answers without waiting for the database; every read, feedback and purge first waits for that queue to drain.

Time is tz-aware UTC throughout; a naive datetime is refused with ``AuditError``. Date ranges are
half-open: ``start <= created_at < end``. A card's *outcome* is that of its latest feedback (by outcome
time, then arrival); a card without feedback has outcome ``"none"``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select
from sqlalchemy.exc import DataError, IntegrityError

from service.audit.csv_export import csv_lines, export_statement
from service.audit.database import AuditDatabase
from service.audit.errors import AuditError, AuditRejectedError, AuditRequestError
from service.audit.queries import (
    aware,
    card_fields,
    card_row,
    decode_cursor,
    encode_cursor,
    feedback_row,
    filtered,
    with_feedback,
)
from service.audit.records import NO_FEEDBACK, AuditedCard, CardFilter, FeedbackRecord, Page
from service.audit.report_codec import ReportCodec, Skeleton, TrialKey, whole
from service.audit.seen_tokens import SeenTokens
from service.audit.tables import FeedbackOutcome, audit_card, audit_dead_letter, audit_feedback
from service.audit.write_behind import WriteBehind
from service.screening.prescreen import CardRecord

__all__ = [
    "NO_FEEDBACK",
    "AuditError",
    "AuditRequestError",
    "AuditStore",
    "AuditedCard",
    "CardFilter",
    "FeedbackOutcome",
    "FeedbackRecord",
    "Page",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reads, feedback and purge first wait for queued cards, but never forever: while the database is down the
# queue cannot drain, and the read itself will then fail with a clear AuditError instead of hanging.
_QUEUE_WAIT_SECONDS: Final = 5.0
_MAX_LIMIT: Final = 1000
# How long the writer gathers cards into one transaction (reads and feedback flush at once, never wait for it).
# A transaction costs ~0.4 ms of CPU whatever it carries (mostly SQLite's commit): at 50 ms it carried only ~3
# sequential hook calls, at 100 ms ~6 (writer CPU per call ~0.51 → ~0.42 ms). Longer saves little more and widens
# what a process killed outright (not shut down) could lose of what it already answered.
_LINGER_SECONDS: Final = 0.1


class AuditStore:
    def __init__(self, database_url: str) -> None:
        self._db = AuditDatabase(database_url)
        self._reports = ReportCodec(compact=self._db.backend == "sqlite")  # see report_codec.py for why SQLite only
        self._queue: WriteBehind[CardRecord] = WriteBehind(self._write_queued, linger=_LINGER_SECONDS)
        self._dead_letters = 0  # cards this process moved to the dead-letter table
        self.seen_tokens = SeenTokens(self._db)  # the JWT ids already used, for every worker and restart

    # -- lifecycle ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe from several processes at once)."""
        self._db.migrate()

    def close(self, timeout: float = 30.0) -> None:
        """Write what the queue holds (for at most `timeout` s), then release the connections."""
        lost = self._queue.close(timeout)
        if lost:
            log.error("audit: %d card(s) could not be written before shutdown", lost)
        self._db.dispose()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted card is written; False if `timeout` ran out first."""
        return self._queue.flush(timeout)

    def health(self) -> dict[str, int]:
        """What `/health` shows: cards waiting to be written, and cards this process had to dead-letter."""
        return {"pending": self._queue.pending, "deadLetters": self._dead_letters}

    # -- writes ------------------------------------------------------------------------------------

    def submit_cards(self, cards: Sequence[CardRecord], timeout: float = 0.0) -> bool:
        """Queue cards for writing and return at once; False (nothing queued) if the queue stayed full for
        `timeout` seconds, which happens only when the database has been failing or falling behind."""
        return self._queue.put(cards, timeout)

    def _write_queued(self, cards: Sequence[CardRecord]) -> None:
        """One batch from the queue. If the database refuses a row for good (too long, a NUL byte, a uuid that
        is already stored), each card is tried on its own and the refused ones go to the dead-letter table with
        the reason, all in one transaction: they never hold up the cards behind them, and an outage in the
        middle (which raises, so the queue retries the batch) cannot store a card twice."""
        try:
            self.record_cards(cards)
        except AuditRequestError:
            refused = self._db.write(lambda conn: _insert_each(conn, cards), what="record cards one by one")
            for reason in refused:
                log.error("audit: a card the database will never take was moved to the dead letters: %s", reason)
            self._dead_letters += len(refused)

    def record_cards(self, cards: Sequence[CardRecord]) -> None:
        """Store all cards in one transaction. A card uuid that is already stored raises AuditError
        (and nothing of the batch is stored)."""
        if not cards:
            return
        if len({card.card_uuid for card in cards}) != len(cards):
            raise AuditRejectedError("duplicate card uuid in one batch")

        def write(conn: Connection) -> dict[TrialKey, Skeleton]:
            used: dict[TrialKey, Skeleton] = {}
            rows = [card_row(card, self._reports.columns(conn, card, used)) for card in cards]
            self._db.insert(conn, audit_card, rows)
            return used

        self._reports.learn(self._db.write(write, what="record cards"))

    def record_feedback(self, feedback: Sequence[FeedbackRecord]) -> list[str]:
        """Store feedback for known cards in one transaction; return the unknown card uuids (not
        stored), each once, in input order."""
        if not feedback:
            return []
        self.flush(_QUEUE_WAIT_SECONDS)
        received_at = dt.datetime.now(dt.UTC)
        rows = [feedback_row(item, received_at) for item in feedback]
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

        return self._db.write(write, what="record feedback")

    def purge(self, older_than: dt.datetime) -> int:
        """Delete the cards created before ``older_than`` and their feedback; return how many cards."""
        cutoff = aware(older_than, "older_than")
        self.flush(_QUEUE_WAIT_SECONDS)

        def write(conn: Connection) -> int:
            old = select(audit_card.c.card_uuid).where(audit_card.c.created_at < cutoff)
            conn.execute(delete(audit_feedback).where(audit_feedback.c.card_uuid.in_(old)))
            return conn.execute(delete(audit_card).where(audit_card.c.created_at < cutoff)).rowcount

        return self._db.write(write, what="purge cards")

    # -- reads -------------------------------------------------------------------------------------

    def list_cards(self, flt: CardFilter, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first, keyset-paginated on (created_at, id). ``next_cursor`` is None on the last page."""
        if not 1 <= limit <= _MAX_LIMIT:
            raise AuditRequestError(f"limit must be between 1 and {_MAX_LIMIT}")
        from_, _latest, conds = filtered(flt)
        if cursor is not None:
            after_time, after_id = decode_cursor(cursor)
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
            items = with_feedback(conn, rows, self._reports)
            last = rows[-1] if more else None
            return Page(items, encode_cursor(last.created_at, last.id) if last is not None else None)

        return self._read(read, what="list cards")

    def get_card(self, card_uuid: str) -> AuditedCard | None:
        def read(conn: Connection) -> AuditedCard | None:
            rows = conn.execute(select(audit_card).where(audit_card.c.card_uuid == card_uuid)).all()
            items = with_feedback(conn, rows, self._reports)
            return items[0] if items else None

        return self._read(read, what="read a card")

    def counts(self, flt: CardFilter) -> dict[str, dict[str, int]]:
        """Per trial id: {"cards": n, "accepted": n, "overridden": n, "no-feedback": n}."""
        from_, latest, conds = filtered(flt)
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
        """CSV lines (header first, CRLF-terminated), newest card first, streamed from the database (`csv_export`).
        The filter is checked now; the query runs when the first line is pulled."""
        statement = export_statement(flt)

        def lines() -> Iterator[str]:
            self.flush(_QUEUE_WAIT_SECONDS)  # on the first line pulled, like every other read
            yield from csv_lines(self._db.engine, statement, self._reports)

        return lines()

    def _read(self, work: Callable[[Connection], T], *, what: str) -> T:
        self.flush(_QUEUE_WAIT_SECONDS)
        return self._db.read(work, what=what)


def _insert_each(conn: Connection, cards: Sequence[CardRecord]) -> list[str]:
    """Insert the cards one by one (a savepoint each); move each refused one to the dead letters. Returns the
    reasons of the refused ones."""
    refused = []
    for card in cards:
        report = orjson.dumps(card.trial.to_json())
        try:
            row = card_row(card, whole(report))
            with conn.begin_nested():
                conn.execute(insert(audit_card), [row])
        except (AuditRequestError, IntegrityError, DataError) as exc:
            reason = str(exc) if isinstance(exc, AuditError) else f"the database refused it ({type(exc.orig).__name__})"
            fields = card_fields(card, {"report": orjson.Fragment(report)})
            payload = orjson.dumps(fields, option=orjson.OPT_NAIVE_UTC).decode()
            failed_at = dt.datetime.now(dt.UTC)
            conn.execute(
                insert(audit_dead_letter),
                [{"kind": "card", "reason": reason, "payload": payload, "failed_at": failed_at}],
            )
            refused.append(reason)
    return refused
