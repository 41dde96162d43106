"""The JWT ids (``jti``) already used, kept in the audit database so that every worker process and a restarted
service refuse a replayed token; each is forgotten once its token has expired (a sweep, at most once a minute
per process, deletes those rows)."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Final

from sqlalchemy import Connection, delete, insert, select, text, update

from service.audit.database import AuditDatabase
from service.audit.errors import AuditConflictError
from service.audit.tables import audit_jti_seen

_SWEEP_EVERY: Final = dt.timedelta(seconds=60)


class SeenTokens:
    def __init__(self, db: AuditDatabase) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._next_sweep = dt.datetime.min.replace(tzinfo=dt.UTC)

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """Record this token id until `expires_at` (epoch seconds); False if it is in use already (a replay)."""
        key = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
        until = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        with self._lock:
            sweep = moment >= self._next_sweep
            if sweep:
                self._next_sweep = moment + _SWEEP_EVERY

        def write(conn: Connection) -> bool:
            if conn.dialect.name == "postgresql":
                # on the hook's path: no wait for the WAL flush (a crash may forget the last few ids, which
                # expire within minutes anyway; replay across workers and restarts is still refused)
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            if sweep:
                conn.execute(delete(audit_jti_seen).where(audit_jti_seen.c.expires_at < moment))
            known = conn.scalar(select(audit_jti_seen.c.expires_at).where(audit_jti_seen.c.token_key == key))
            if known is not None and known >= moment:
                return False
            if known is None:
                conn.execute(insert(audit_jti_seen), [{"token_key": key, "expires_at": until}])
            else:  # seen before, but expired and not swept yet
                conn.execute(update(audit_jti_seen).where(audit_jti_seen.c.token_key == key).values(expires_at=until))
            return True

        try:
            return self._db.write(write, what="record a token id")
        except AuditConflictError:  # another process recorded the same id between our read and our insert
            return False
