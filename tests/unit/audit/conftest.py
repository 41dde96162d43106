"""Fixtures for the audit store tests: one ``store`` per backend (SQLite file, real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.audit.store import AuditStore
from tests.unit.audit.audit_helpers import fresh_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One migrated throwaway database per test session; tests get it emptied (see ``store``)."""
    with fresh_database() as url:
        store = AuditStore(url)
        store.migrate()
        store.close()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url = str(request.getfixturevalue("pg_url"))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_feedback, audit_card, audit_dead_letter, audit_jti_seen RESTART IDENTITY"))
    engine.dispose()
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    s = AuditStore(database_url)
    s.migrate()
    yield s
    s.close()
