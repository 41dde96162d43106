"""What `serve` keeps off its start and first hook call (issue 18: start ≤ 1 s): with JWT checks off, on a new
SQLite database, a hook call that returns cards imports neither PyJWT, the FHIR models, alembic, the demo
patients nor SQLAlchemy's PostgreSQL dialect. In a fresh interpreter, so that nothing the test session imported
counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from service.cli import _skip_unused_imports
from service.settings import Settings
_skip_unused_imports()
from fastapi.testclient import TestClient
from service.app import create_app
settings = Settings(require_jwt=False, database_url=sys.argv[1], public_url="http://testserver")
with TestClient(create_app(settings)) as client:
    answer = client.post("/cds-services/trial-prescreen", content=sys.argv[2])
    assert answer.status_code == 200, answer.text
    cards = answer.json()["cards"]
print(json.dumps({"cards": len(cards), "modules": sorted(m for m in sys.modules if sys.modules[m] is not None)}))
"""

SEARCHSET = {"resourceType": "Bundle", "type": "searchset"}
SLE = {
    "resourceType": "Condition",
    "id": "c1",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
}
EMPTY = ("observations", "medicationRequests", "medicationStatements", "medicationAdministrations", "procedures")
HOOK_CALL = {  # the README's call: a patient with SLE, possibly eligible for several trials
    "hook": "patient-view",
    "hookInstance": "start-imports",
    "context": {"userId": "Practitioner/demo", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"},
        "conditions": {**SEARCHSET, "entry": [{"resource": {**SLE, "subject": {"reference": "Patient/p1"}}}]},
        "immunizations": SEARCHSET,
        **dict.fromkeys(EMPTY, SEARCHSET),
    },
}
KEPT_OFF = (
    "jwt",
    "cryptography",
    "fhir",
    "fhir_core",
    "alembic",
    "service.demo.patients",
    "pydantic.v1",
    "sqlalchemy.dialects.postgresql",
)


def test_the_start_and_first_hook_call_import_only_what_they_use(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'new' / 'audit.sqlite3'}", json.dumps(HOOK_CALL)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["cards"] >= 1  # the referral drafted: the card path ran
    loaded = [m for m in found["modules"] if any(m == name or m.startswith(name + ".") for name in KEPT_OFF)]
    assert loaded == []
