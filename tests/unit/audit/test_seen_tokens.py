"""JWT ids already used, in the audit database: a second store on the same database (another worker process, or
the service after a restart) refuses the id; an expired one is forgotten. SQLite and PostgreSQL."""

from __future__ import annotations

import time

from service.audit.store import AuditStore


def test_another_worker_and_a_restart_see_a_used_token_id(store: AuditStore, database_url: str) -> None:
    now = time.time()
    first, second = AuditStore(database_url), AuditStore(database_url)
    try:
        assert first.seen_tokens.first_use("https://ehr", "jti-1", expires_at=now + 300, now=now)
        assert not second.seen_tokens.first_use("https://ehr", "jti-1", expires_at=now + 300, now=now + 1)
        assert not first.seen_tokens.first_use("https://ehr", "jti-1", expires_at=now + 300, now=now + 2)
        # the favourable neighbours: another id, the same id from another issuer
        assert second.seen_tokens.first_use("https://ehr", "jti-2", expires_at=now + 300, now=now + 1)
        assert second.seen_tokens.first_use("https://other-ehr", "jti-1", expires_at=now + 300, now=now + 1)
    finally:
        first.close()
        second.close()
    restarted = AuditStore(database_url)
    try:
        assert not restarted.seen_tokens.first_use("https://ehr", "jti-1", expires_at=now + 300, now=now + 3)
        assert restarted.seen_tokens.first_use("https://ehr", "jti-1", expires_at=now + 900, now=now + 301)
    finally:
        restarted.close()


def test_any_jti_fits(store: AuditStore) -> None:
    now = time.time()
    assert store.seen_tokens.first_use("i" * 5000, "j\x00" * 5000, expires_at=now + 300, now=now)
    assert not store.seen_tokens.first_use("i" * 5000, "j\x00" * 5000, expires_at=now + 300, now=now)
