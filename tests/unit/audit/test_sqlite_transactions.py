"""SQLite transactions begin through the driver (`database._sqlite_on_begin`); a busy database is still retried."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from service.audit.database import AuditDatabase


def test_a_write_that_finds_the_database_locked_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = AuditDatabase(f"sqlite:///{tmp_path / 'audit.db'}")
    db.migrate()
    with db.engine.connect() as conn:  # the pool's one connection, which the write takes again: no waiting on locks
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    other = sqlite3.connect(tmp_path / "audit.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction: BEGIN IMMEDIATE finds it locked
    release = threading.Timer(0.1, other.rollback)
    release.start()
    try:
        with caplog.at_level(logging.WARNING, logger="service.audit.store"):
            assert db.write(lambda conn: conn.exec_driver_sql("SELECT 1").scalar(), what="read one") == 1
    finally:
        release.join()
        other.close()
        db.dispose()
    assert "read one: database busy, retry 1" in caplog.text
