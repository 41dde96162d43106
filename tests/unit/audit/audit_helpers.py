"""Helpers for the audit tests: throwaway PostgreSQL databases (admin URL overridable by
TRIAL_SCREEN_TEST_PG_URL) and card/feedback factories."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from service.audit.store import FeedbackRecord
from service.screening.contract import TrialReport
from service.screening.prescreen import CardRecord

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
ADMIN_URL = os.environ.get("TRIAL_SCREEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(prefix: str = "audit_test") -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random>, yield its URL, DROP it afterwards. Fails (not skips) when
    PostgreSQL is unreachable: the audit store must be tested against a real one."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL unreachable at {make_url(ADMIN_URL).render_as_string(hide_password=True)}: "
            f"{exc.orig}. Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            pytrace=False,
        )
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_trial(
    trial_id: str = "CASTLE", status: str = "possibly-eligible", evidence: tuple[str, ...] = ("Condition/c1",)
) -> TrialReport:
    """A small trial report: a met common inclusion resting on `evidence`, an arm exclusion still unknown."""
    return TrialReport.from_json(
        {
            "id": trial_id,
            "title": f"The {trial_id} trial",
            "registryId": None,
            "status": status,
            "cohorts": [{"id": "arm-a", "title": "Arm A", "status": status}],
            "criteria": [
                {
                    "id": "inc-sle",
                    "cohort": None,
                    "kind": "inclusion",
                    "text": "Diagnosed with SLE",
                    "result": "met",
                    "evidence": [{"reference": ref, "display": f"{ref} (2026-01-01)"} for ref in evidence],
                    "missing": [],
                },
                {
                    "id": "exc-anc",
                    "cohort": "arm-a",
                    "kind": "exclusion",
                    "text": "Neutropenia",
                    "result": "unknown",
                    "evidence": [{"reference": "Observation/o1", "display": "ANC 1.2 (2026-01-01)"}],
                    "missing": ["Absolute neutrophil count within the last 90 days"],
                },
            ],
        }
    )


def make_card(
    *,
    trial_id: str = "CASTLE",
    trial_status: str = "possibly-eligible",
    evidence: tuple[str, ...] = ("Condition/c1",),
    **overrides: Any,
) -> CardRecord:
    fields: dict[str, Any] = {
        "card_uuid": str(uuid.uuid4()),
        "hook_instance": str(uuid.uuid4()),
        "patient_ref": "Patient/p1",
        "fhir_server": "https://fhir.example.org/r4",
        "user_ref": "Practitioner/u1",
        "trial": make_trial(trial_id, trial_status, evidence),
        "trial_version": "sha256:" + "ab" * 32,
        "service_version": "0.1.0",
        "summary": "Possibly eligible for CASTLE; 1 criterion needs data",
        "created_at": T0,
    }
    fields.update(overrides)
    return CardRecord(**fields)


def make_feedback(card_uuid: str, **overrides: Any) -> FeedbackRecord:
    fields: dict[str, Any] = {
        "card_uuid": card_uuid,
        "outcome": "accepted",
        "override_reason_code": None,
        "override_reason_display": None,
        "user_comment": None,
        "accepted_suggestions": [],
        "outcome_timestamp": T0 + dt.timedelta(minutes=5),
    }
    fields.update(overrides)
    return FeedbackRecord(**fields)
