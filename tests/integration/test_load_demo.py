"""`trial-screen load-demo` against the real local FHIR server (SEKMET): idempotent upload, then the hook
reads an uploaded demo patient from that server without prefetch and gives the same cards as with prefetch."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from cds_hooks.discovery import PREFETCH
from service.app import create_app
from service.cli import app as cli_app
from service.demo.patients import load_demo_patients
from service.demo.upload import upload_demo
from service.settings import Settings

pytestmark = pytest.mark.integration

HOOK = "/cds-services/trial-prescreen"
PATIENT = "demo-sle-eligible"
FHIR_JSON = {"Accept": "application/fhir+json"}


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=160, force_terminal=False, color_system=None), buffer


@pytest.fixture(scope="module")
def uploaded(fhir_server: str) -> dict[str, str]:
    """Run load-demo twice; return both outputs."""
    console, first = _console()
    assert upload_demo(fhir_server, None, console=console) == 0, first.getvalue()
    console, second = _console()
    assert upload_demo(fhir_server, None, console=console) == 0, second.getvalue()
    return {"first": first.getvalue(), "second": second.getvalue()}


def _server_patient_id(base: str, key: str) -> str:
    found = httpx.get(
        f"{base}/Patient", params={"identifier": f"urn:trial-screen:demo|{key}"}, headers=FHIR_JSON, timeout=10
    ).json()
    matches = [e["resource"] for e in found.get("entry", []) if e["resource"]["resourceType"] == "Patient"]
    assert len(matches) == 1, found
    return str(matches[0]["id"])


def test_first_run_creates_every_resource(uploaded: dict[str, str]) -> None:
    patients = load_demo_patients(dt.date.today())
    total = sum(len(p.resources) for p in patients)
    assert f"{len(patients)} patient(s): {total} resource(s) created, 0 already there." in uploaded["first"]
    assert PATIENT in uploaded["first"]
    assert "Okafor, Adaeze" in uploaded["first"]


def test_second_run_creates_nothing(uploaded: dict[str, str], fhir_server: str) -> None:
    patients = load_demo_patients(dt.date.today())
    total = sum(len(p.resources) for p in patients)
    assert f"{len(patients)} patient(s): 0 resource(s) created, {total} already there." in uploaded["second"]
    for patient in patients[:3]:
        _server_patient_id(fhir_server, patient.key)  # still exactly one Patient per demo patient


def test_cli_command_uploads_with_exit_code_zero(uploaded: dict[str, str], fhir_server: str) -> None:
    result = CliRunner().invoke(cli_app, ["load-demo", "--fhir-server", fhir_server])
    assert result.exit_code == 0, result.output
    assert "0 resource(s) created" in result.output


def test_server_refusal_prints_its_operation_outcome_and_exits_1(fhir_server: str) -> None:
    console, buffer = _console()
    assert upload_demo(f"{fhir_server}/NoSuchType", None, console=console) == 1
    text = buffer.getvalue()
    assert "The FHIR server refused" in text
    assert "HTTP 4" in text
    assert re.search(r"(error|fatal) \[[a-z-]+\]: ", text), text  # the server's OperationOutcome, as text


def test_unreachable_server_exits_1() -> None:
    console, buffer = _console()
    assert upload_demo("http://127.0.0.1:9/fhir", None, console=console) == 1
    assert "could not reach" in buffer.getvalue()


@pytest.fixture
def hook_client(fhir_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        allowed_fhir_servers=[fhir_server],
        require_jwt=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _prefetch(base: str, patient_id: str) -> dict[str, Any]:
    """What an EHR would send: each discovery template run against the server."""
    prefetch: dict[str, Any] = {}
    for key, template in PREFETCH.items():
        query = template.replace("{{context.patientId}}", patient_id)
        if "?" in query:
            query += "&_count=1000"
        response = httpx.get(f"{base}/{query}", headers=FHIR_JSON, timeout=10)
        assert response.status_code == 200, response.text
        prefetch[key] = response.json()
    return prefetch


def _card_trials(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert all(c["indicator"] == "info" for c in cards), cards  # no warning card: everything was read
    return sorted(c["source"]["topic"]["code"] for c in cards)


def test_hook_without_prefetch_matches_full_prefetch(
    uploaded: dict[str, str], fhir_server: str, hook_client: TestClient
) -> None:
    patient_id = _server_patient_id(fhir_server, PATIENT)
    request = {
        "hook": "patient-view",
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/demo", "patientId": patient_id},
    }
    fetched = hook_client.post(HOOK, json={**request, "hookInstance": str(uuid.uuid4())})
    prefetched = hook_client.post(
        HOOK, json={**request, "hookInstance": str(uuid.uuid4()), "prefetch": _prefetch(fhir_server, patient_id)}
    )
    demo = next(p for p in load_demo_patients(dt.date.today()) if p.key == PATIENT)
    expected = sorted(t for t, status in demo.spec["expect"].items() if status != "ineligible")
    assert _card_trials(fetched) == _card_trials(prefetched) == expected
