"""The audit store's one base exception; foreign (SQLAlchemy, Alembic, driver) errors are mapped to it."""

from __future__ import annotations


class AuditError(Exception):
    """The audit trail could not be read or written, or the caller passed something it cannot store."""


class AuditConflictError(AuditError):
    """The rows can never be stored as they are (a card uuid that is already stored)."""
