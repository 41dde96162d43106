"""The audit store's one base exception; foreign (SQLAlchemy, Alembic, driver) errors are mapped to it."""

from __future__ import annotations


class AuditError(Exception):
    """The audit trail could not be read or written, or the caller passed something it cannot store."""


class AuditRequestError(AuditError):
    """What the caller passed cannot be stored or asked for (a bad limit, cursor or filter, a naive datetime,
    a malformed card): retrying cannot help, and an HTTP caller gets a 400, not a 503."""


class AuditRejectedError(AuditRequestError):
    """The database will never take these rows as they are (a value too long for its column, a NUL byte, a
    constraint): a permanent data error, unlike an outage, which is worth retrying."""


class AuditConflictError(AuditRejectedError):
    """The rows can never be stored as they are (a card uuid that is already stored)."""
