"""`trial-screen load-demo` against the real local FHIR server (SEKMET): uploads with the demo's own ids, a re-run
updates (and re-dates) instead of duplicating, and the hook call it prints, run as printed, returns the cards."""

from __future__ import annotations

import datetime as dt
import io
import json
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


FIRST_DAY = dt.date.today() - dt.timedelta(days=200)  # a server loaded long ago: its labs have aged out


@pytest.fixture(scope="module")
def uploaded(fhir_server: str) -> dict[str, str]:
    """Run load-demo as of 200 days ago, then today; return both outputs."""
    console, first = _console()
    assert upload_demo(fhir_server, None, on=FIRST_DAY, console=console) == 0, first.getvalue()
    console, second = _console()
    assert upload_demo(fhir_server, None, console=console) == 0, second.getvalue()
    return {"first": first.getvalue(), "second": second.getvalue()}


def _read(base: str, path: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/{path}", headers=FHIR_JSON, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_first_run_creates_every_resource_under_the_demo_ids(uploaded: dict[str, str], fhir_server: str) -> None:
    patients = load_demo_patients(FIRST_DAY)
    total = sum(len(p.resources) for p in patients)
    assert f"{len(patients)} patient(s): {total} resource(s) created, 0 updated" in uploaded["first"]
    assert PATIENT in uploaded["first"]
    assert "Okafor, Adaeze" in uploaded["first"]
    for patient in patients[:3]:
        assert _read(fhir_server, f"Patient/{patient.key}")["id"] == patient.key


def test_second_run_updates_and_refreshes_the_dates(uploaded: dict[str, str], fhir_server: str) -> None:
    patients = load_demo_patients(dt.date.today())
    total = sum(len(p.resources) for p in patients)
    assert f"{len(patients)} patient(s): 0 resource(s) created, {total} updated" in uploaded["second"]
    found = _read(fhir_server, f"Patient?identifier=urn:trial-screen:demo|{PATIENT}")
    assert [e["resource"]["id"] for e in found["entry"]] == [PATIENT]  # updated in place, not duplicated
    demo = next(p for p in patients if p.key == PATIENT)
    dated = next(r for r in demo.resources if r["resourceType"] == "Observation" and "effectiveDateTime" in r)
    on_server = _read(fhir_server, f"Observation/{dated['id']}")
    assert on_server["effectiveDateTime"][:10] == dated["effectiveDateTime"][:10]  # as of today, not 200 days ago


def test_cli_command_uploads_with_exit_code_zero(uploaded: dict[str, str], fhir_server: str) -> None:
    result = CliRunner().invoke(cli_app, ["load-demo", "--fhir-server", fhir_server])
    assert result.exit_code == 0, result.output
    assert "0 resource(s) created" in result.output
    assert "curl -s -X POST" in result.output


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


def _printed_hook_request(output: str) -> dict[str, Any]:
    match = re.search(r"-d '(\{.*\})'", output)
    assert match, output
    return dict(json.loads(match.group(1)))


def test_printed_hook_call_returns_the_cards_with_or_without_prefetch(
    uploaded: dict[str, str], fhir_server: str, hook_client: TestClient
) -> None:
    request = _printed_hook_request(uploaded["second"])
    assert request["fhirServer"] == fhir_server
    patient_id = request["context"]["patientId"]
    fetched = hook_client.post(HOOK, json=request)
    prefetched = hook_client.post(
        HOOK, json={**request, "hookInstance": str(uuid.uuid4()), "prefetch": _prefetch(fhir_server, patient_id)}
    )
    demo = next(p for p in load_demo_patients(dt.date.today()) if p.key == patient_id)
    expected = sorted(t for t, status in demo.spec["expect"].items() if status != "ineligible")
    assert expected
    assert _card_trials(fetched) == _card_trials(prefetched) == expected
