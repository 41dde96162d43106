"""Alembic environment of the audit store (run programmatically by ``AuditStore.migrate``)."""
