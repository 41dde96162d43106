"""The audit database: one SQLAlchemy engine per backend, its transactions (retried when the database is busy)
and its schema migrations.

SQLite (the embedded default): WAL (checkpointed every ~40 MB), ``synchronous=NORMAL``, ``busy_timeout=5000``,
foreign keys on. Write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy
timeout instead of failing on a lock upgrade, and a write that still finds the database locked is retried a
bounded number of times. PostgreSQL: ``pool_pre_ping``; serialization failures and deadlocks are retried the same way.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from service.audit.errors import AuditConflictError, AuditError, AuditRejectedError
from service.audit.tables import metadata

log = logging.getLogger("service.audit.store")

T = TypeVar("T")

_WRITE_OPTION: Final = "trial_screen_audit_write"
_MAX_ATTEMPTS: Final = 6
_PG_MIGRATION_LOCK: Final = 0x7472_6961_6C61  # pg_advisory_xact_lock key ("triala")
_PG_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
HEAD_REVISION: Final = "0004"  # the newest of migrations/versions (a test holds it to alembic's head)
# Alembic's version table as alembic itself creates it (`migrations/env.py` names it), for a new database
_VERSIONS: Final = Table(
    "audit_alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="audit_alembic_version_pkc"),
)


class AuditDatabase:
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
            self.engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 5.0},
                hide_parameters=True,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
                **({"poolclass": StaticPool} if memory else {}),
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        elif self._backend == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                hide_parameters=True,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
            )
        else:
            raise AuditError(f"unsupported database backend {self._backend!r} (use sqlite or postgresql)")
        self._inserts: dict[tuple[str, tuple[str, ...]], _PositionalInsert] = {}

    @property
    def backend(self) -> str:
        """The backend's name: sqlite or postgresql."""
        return self._backend

    def dispose(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest revision. Idempotent; concurrent callers serialize (a
        PostgreSQL advisory lock, SQLite's write lock) and the later ones find nothing to do."""
        if self._at_head() or self._created_at_head():
            return
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
            self.write(upgrade, what="migrate the audit database")
        except CommandError as exc:
            raise AuditError("audit database migration failed") from exc

    def _created_at_head(self) -> bool:
        """A new, empty database gets the tables of `tables.py` and is stamped at the head revision, in one
        transaction: the schema the migrations give (a test compares the two on both backends) without importing
        and running alembic (~0.1 s of a first start). False, and nothing done, when any of its tables is there."""

        def create(conn: Connection) -> bool:
            if self._backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            if not {*metadata.tables, _VERSIONS.name}.isdisjoint(inspect(conn).get_table_names()):
                return False
            metadata.create_all(conn, checkfirst=False)
            _VERSIONS.create(conn)
            conn.execute(insert(_VERSIONS).values(version_num=HEAD_REVISION))
            return True

        return self.write(create, what="create the audit database")

    def _at_head(self) -> bool:
        """Whether the schema is already at the newest revision, by a plain query: a restart then skips
        importing alembic (~0.1 s of the start). Any doubt (no table, a failure) leaves it to alembic."""
        try:
            with self.engine.connect() as conn, conn.begin():
                versions = conn.execute(text("SELECT version_num FROM audit_alembic_version")).scalars().all()
        except SQLAlchemyError:
            return False
        return versions == [HEAD_REVISION]

    def write(self, work: Callable[[Connection], T], *, what: str) -> T:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self._write_lock, self.engine.connect() as conn:
                    conn.execution_options(**{_WRITE_OPTION: True})
                    with conn.begin():
                        return work(conn)
            except IntegrityError as exc:
                raise AuditConflictError(f"could not {what}: constraint violated (duplicate card uuid?)") from exc
            except DataError as exc:  # too long for its column, a NUL byte, …: retrying cannot help
                raise AuditRejectedError(
                    f"could not {what}: the database refused a value ({type(exc.orig).__name__})"
                ) from exc
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

    def insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows (each with the first row's keys) in `conn`'s transaction. On SQLite as positional
        parameters of one prepared INSERT (`_PositionalInsert`); on PostgreSQL by SQLAlchemy Core, whose batched
        VALUES beat the driver's executemany there."""
        if not rows:
            return
        if self._backend != "sqlite":
            conn.execute(insert(table), rows)
            return
        key = (table.name, tuple(rows[0]))
        prepared = self._inserts.get(key)
        if prepared is None:
            prepared = self._inserts[key] = _PositionalInsert(conn.dialect, table, key[1])
        prepared.execute(conn, rows)

    def read(self, work: Callable[[Connection], T], *, what: str) -> T:
        try:
            with self.engine.connect() as conn, conn.begin():
                return work(conn)
        except SQLAlchemyError as exc:
            raise AuditError(f"could not {what}: {type(exc).__name__}") from exc


_UNSET: Final = object()


class _PositionalInsert:
    """An INSERT of a table's rows with the given keys, compiled once, executed through the driver: each row a
    tuple of its values, those whose column type converts them (JSON, timestamps, bytes) passed through that type's
    own bind processor, as SQLAlchemy Core does, so the stored rows are the Core insert's (a test compares them
    column by column). Core's per-row parameter work (a dict per row, the statement's cache key, its execution
    context) was ~11 % of the audit writer's instructions per hook call (2.31 → 2.05 M, one call per
    transaction; 1.81 → 1.63 M at eight)."""

    def __init__(self, dialect: Dialect, table: Table, keys: Sequence[str]) -> None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        self._sql = compiled.string
        self._keys = tuple(compiled.positiontup or ())
        if sorted(self._keys) != sorted(keys):  # pragma: no cover - a dialect without positional parameters
            raise AssertionError(f"{dialect.name} does not bind {table.name}'s columns positionally")
        self._converters = [
            (i, process)
            for i, key in enumerate(self._keys)
            if (process := table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Each converter's last value and result are kept: a value the previous row held (the same object) is not
        converted again: a hook call's cards share their `created_at` (SQLite's timestamp text is made in Python)
        and the compact ones a null report. The conversions cost ~57 k instructions per card, ~25 k so."""
        keys, converters = self._keys, self._converters
        last: list[tuple[Any, Any]] = [(_UNSET, None)] * len(converters)
        parameters = []
        for row in rows:
            values = [row[key] for key in keys]
            for n, (i, process) in enumerate(converters):
                value = values[i]
                seen, converted = last[n]
                if value is not seen:
                    converted = process(value)
                    last[n] = (value, converted)
                values[i] = converted
            parameters.append(tuple(values))
        conn.exec_driver_sql(self._sql, parameters)


# -- engine events (SQLite) --------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    """orjson for the report columns: the stored reports are the bulk of every audit write."""
    return orjson.dumps(value).decode()


# A checkpoint copies the WAL's pages into the database file and syncs both. At SQLite's default (every 1,000
# pages, ~4 MB: a few hundred cards) it was ~20 % of the audit writer's CPU: the index pages every batch touches were
# copied and synced again and again. Every 10,000 pages the writer spends ~0.03 ms less per hook call (in process,
# on a grown database); the WAL file then takes up to ~40 MB on disk, reused after each checkpoint.
_WAL_CHECKPOINT_PAGES: Final = 10_000


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit transactions are off).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    """BEGIN through the driver: by `exec_driver_sql` it cost ~90 k instructions more per transaction (a statement's
    execution context, for no result), once per audit batch and per token check. Its error is wrapped as SQLAlchemy
    wraps one (a busy database's OperationalError), so that `AuditDatabase.write` retries it the same way."""
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION, False) else "BEGIN"
    try:
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    return getattr(orig, "sqlstate", None) in _PG_RETRY_SQLSTATES
