"""Alembic migrations of the audit store: from an empty database, agreeing with ``tables.py``."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, inspect, text

from service.audit.database import HEAD_REVISION
from service.audit.store import AuditStore, CardFilter
from service.audit.tables import Json, UtcDateTime, metadata
from tests.unit.audit.audit_helpers import T0, fresh_database, make_card, make_trial

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def new_database(backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes the URL of another new, empty database of the backend at each call (a SQLite file in a folder
    that does not exist yet)."""
    numbers = itertools.count()
    with contextlib.ExitStack() as made:

        def new() -> str:
            if backend == "sqlite":
                return f"sqlite:///{tmp_path / f'db{next(numbers)}' / 'sub' / 'dir' / 'audit.db'}"
            return made.enter_context(fresh_database("audit_mig"))

        yield new


@pytest.fixture
def empty_url(new_database: Callable[[], str]) -> str:
    return new_database()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_apply_to_an_empty_database(empty_url: str) -> None:
    store = AuditStore(empty_url)
    store.migrate()
    tables = {
        "audit_card",
        "audit_feedback",
        "audit_dead_letter",
        "audit_jti_seen",
        "audit_report_skeleton",
        "audit_alembic_version",
    }
    assert _tables(empty_url) == tables
    store.migrate()  # idempotent
    assert store.counts(CardFilter()) == {}
    store.close()


def _schema(url: str) -> dict[str, Any]:
    """Everything the database says about each table: columns in order (type, null, default, identity), keys,
    foreign keys, indexes, unique and check constraints, with their names, and the stamped revision."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            schema: dict[str, Any] = {
                table: {
                    "columns": [{**c, "type": str(c["type"])} for c in found.get_columns(table)],
                    "primary key": found.get_pk_constraint(table),
                    "foreign keys": found.get_foreign_keys(table),
                    "indexes": sorted(found.get_indexes(table), key=lambda index: str(index["name"])),
                    "unique": sorted(found.get_unique_constraints(table), key=lambda u: str(u["name"])),
                    "checks": sorted(found.get_check_constraints(table), key=lambda c: str(c["name"])),
                    "options": found.get_table_options(table),
                }
                for table in found.get_table_names()
            }
            schema["revision"] = conn.execute(text("SELECT version_num FROM audit_alembic_version")).all()
        return schema
    finally:
        engine.dispose()


def test_a_new_database_gets_the_schema_the_migrations_give(
    empty_url: str, new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new, empty database is made from `tables.py` and stamped at the head, without alembic: it must be, to
    the column order and the constraint names, what running every migration makes."""
    AuditStore(empty_url).close()  # creates the SQLite file's folder
    _alembic(empty_url, "upgrade", "head")
    with monkeypatch.context() as patched:
        patched.setattr(command, "upgrade", None)  # any use of alembic would fail
        AuditStore(second := new_database()).migrate()
    assert _schema(second) == _schema(empty_url)
    assert set(_schema(empty_url)) == {*metadata.tables, "audit_alembic_version", "revision"}


def test_a_database_with_any_audit_table_is_left_to_the_migrations(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a database without any of our tables is made from `tables.py`; one holding a table but no version
    (an interrupted first start, an operator's table) is never created over: alembic decides."""
    AuditStore(empty_url).close()  # creates the SQLite file's folder
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        metadata.tables["audit_jti_seen"].create(conn)
    engine.dispose()
    upgrades: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda _cfg, revision: upgrades.append(revision))
    AuditStore(empty_url).migrate()
    assert upgrades == ["head"]
    assert _tables(empty_url) == {"audit_jti_seen"}


def test_migrated_schema_matches_the_tables_module(empty_url: str) -> None:
    AuditStore(empty_url).migrate()
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": "audit_alembic_version"})
        assert compare_metadata(ctx, metadata) == []
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("audit_card")}
    engine.dispose()
    assert {
        "ix_audit_card_patient_ref_created_at",
        "ix_audit_card_trial_id_created_at",
        "ix_audit_card_created_at_id",
    } <= indexes


def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    AuditStore(empty_url).migrate()
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("service.audit") / "migrations"))
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    engine.dispose()
    assert _tables(empty_url) == {"audit_alembic_version"}
    AuditStore(empty_url).migrate()
    assert {"audit_card", "audit_feedback"} <= _tables(empty_url)


def _alembic(url: str, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("service.audit") / "migrations"))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)
    engine.dispose()


def test_rows_written_before_the_report_was_stored_once_read_the_same(empty_url: str) -> None:
    """Revision 0001 rows (criteria and evidence copied beside the report) read as before after 0002, and a
    downgrade rebuilds the copies from the report."""
    AuditStore(empty_url).close()  # creates the SQLite file's folder
    _alembic(empty_url, "upgrade", "0001")
    trial = make_trial("CASTLE", "possibly-eligible", ("Condition/c1",))
    old_criteria = [
        {
            "id": "inc-sle",
            "cohort": None,
            "kind": "inclusion",
            "result": "met",
            "evidence": ["Condition/c1"],
            "missing": [],
        },
        {
            "id": "exc-anc",
            "cohort": "arm-a",
            "kind": "exclusion",
            "result": "unknown",
            "evidence": ["Observation/o1"],
            "missing": ["Absolute neutrophil count within the last 90 days"],
        },
    ]
    old_row = {
        "card_uuid": "old-card",
        "hook_instance": "h1",
        "patient_ref": "Patient/p1",
        "fhir_server": None,
        "user_ref": None,
        "trial_id": "CASTLE",
        "trial_status": "possibly-eligible",
        "trial_version": "v1",
        "service_version": "0.1.0",
        "criteria": old_criteria,
        "evidence_refs": ["Condition/c1", "Observation/o1"],
        "report": trial.to_json(),
        "summary": "Possibly eligible for CASTLE",
        "created_at": T0,
    }
    engine = create_engine(empty_url)
    old_card = Table(
        "audit_card",
        MetaData(),
        *(
            Column(name, Json if isinstance(v, list | dict) else UtcDateTime() if name == "created_at" else String())
            for name, v in old_row.items()
        ),
    )
    with engine.begin() as conn:
        conn.execute(insert(old_card), [old_row])
    engine.dispose()

    store = AuditStore(empty_url)
    store.migrate()
    card = store.get_card("old-card")
    store.close()
    assert card is not None
    assert card.trial_report() == trial
    assert card.evidence_refs == ["Condition/c1", "Observation/o1"]

    _alembic(empty_url, "downgrade", "0001")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        criteria, evidence = conn.execute(text("SELECT criteria, evidence_refs FROM audit_card")).one()
    engine.dispose()
    assert (_json(criteria), _json(evidence)) == (old_criteria, old_row["evidence_refs"])


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def test_head_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("service.audit") / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_a_database_one_revision_behind_is_still_upgraded(empty_url: str) -> None:
    AuditStore(empty_url).migrate()
    _alembic(empty_url, "downgrade", "0002")
    assert "audit_dead_letter" not in _tables(empty_url)
    AuditStore(empty_url).migrate()
    assert "audit_dead_letter" in _tables(empty_url)


def test_downgrade_puts_compressed_reports_back(empty_url: str) -> None:
    """Below revision 0004 every report is JSON in `report` again, and reads as before."""
    store = AuditStore(empty_url)
    store.migrate()
    card = make_card()
    store.record_cards([card])
    store.close()
    _alembic(empty_url, "downgrade", "0003")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        report = conn.execute(text("SELECT report FROM audit_card")).scalar_one()
    engine.dispose()
    assert _json(report) == card.trial.to_json()
    AuditStore(empty_url).migrate()
    store = AuditStore(empty_url)
    got = store.get_card(card.card_uuid)
    store.close()
    assert got is not None
    assert got.report == card.trial.to_json()


def test_migration_scripts_are_package_data() -> None:
    root = resources.files("service.audit") / "migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    assert (root / "versions" / "__init__.py").is_file()  # a package, so setuptools ships it
    assert (root / "versions" / "0001_initial.py").is_file()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_pragmas(store: AuditStore, database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    with store._db.engine.connect() as conn:  # the store's own connections
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000


MIGRATE_AND_WRITE = """
import datetime as dt, sys, uuid
from tests.unit.audit.audit_helpers import make_card
from service.audit.store import AuditStore
store = AuditStore(sys.argv[1])
store.migrate()
for i in range(int(sys.argv[2])):
    store.record_cards([make_card(created_at=dt.datetime.now(dt.UTC))])
store.close()
"""


def test_processes_starting_at_once_migrate_and_write_safely(empty_url: str) -> None:
    """Three worker processes start on one empty database: one migrates, the others wait and find
    nothing to do; all their writes land."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_AND_WRITE, empty_url, "40", str(REPO)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = AuditStore(empty_url)
    assert sum(t["cards"] for t in store.counts(CardFilter()).values()) == 120
    store.close()
