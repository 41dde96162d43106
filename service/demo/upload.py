"""`trial-screen load-demo`: upload the demo patients to a FHIR server as transaction Bundles.

Every resource is written with its client-assigned id (`PUT Patient/demo-sle-eligible`), so the ids printed are
the server's ids and a hook call can name them; the server answers `201 Created` the first time and `200 OK`
(updated) afterwards, and a second run refreshes the dates, which are relative to the upload day. On a 4xx/5xx the
server's OperationOutcome text is printed and the exit code is 1.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.demo.patients import DemoPatient, load_demo_patients

FHIR_JSON = "application/fhir+json"
TIMEOUT_SECONDS = 60.0
DEFAULT_SERVICE_URL = "http://127.0.0.1:8000"  # where `trial-screen serve` listens by default


@dataclass(frozen=True, slots=True)
class UploadResult:
    patient: str
    name: str
    created: int
    updated: int
    other: int


class UploadError(Exception):
    """The server refused or failed a transaction; the message carries its OperationOutcome text."""


def operation_outcome_text(body: Any) -> str | None:
    """The human-readable text of an OperationOutcome (one line per issue), or None if `body` is not one."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return None
    lines = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details")
        details_text = details.get("text") if isinstance(details, dict) else None
        text = issue.get("diagnostics") or details_text or issue.get("code") or "no details"
        where = issue.get("expression") or issue.get("location")
        suffix = f" (at {', '.join(str(w) for w in where)})" if isinstance(where, list) and where else ""
        lines.append(f"{issue.get('severity', 'error')} [{issue.get('code', 'unknown')}]: {text}{suffix}")
    return "\n".join(lines) or "OperationOutcome without issues"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = operation_outcome_text(body)
    if text is None:
        text = response.text.strip()[:1000] or "(empty body)"
    return f"HTTP {response.status_code} {response.reason_phrase}\n{text}"


def _entry_counts(body: Any) -> tuple[int, int, int]:
    """(created, updated, other) from a transaction-response Bundle's entry.response.status codes."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise UploadError("the server did not answer with a transaction-response Bundle")
    created = updated = other = 0
    for entry in body.get("entry") or []:
        status = str(((entry or {}).get("response") or {}).get("status", "")).strip()
        code = status.split(" ", 1)[0]
        if code == "201":
            created += 1
        elif code == "200":
            updated += 1
        else:
            other += 1
    return created, updated, other


def _name(patient: DemoPatient) -> str:
    info = patient.spec.get("patient") or {}
    return str(info.get("name") or patient.key)


def upload_patient(client: httpx.Client, base_url: str, patient: DemoPatient) -> UploadResult:
    """POST one patient's transaction Bundle to the server base; raises UploadError on a refusal."""
    payload = json.dumps(patient.transaction).encode()
    try:
        response = client.post(base_url, content=payload)
    except httpx.HTTPError as exc:
        raise UploadError(f"could not reach {base_url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise UploadError(_error_text(response))
    try:
        body = response.json()
    except ValueError as exc:
        raise UploadError(f"HTTP {response.status_code}: the answer is not JSON") from exc
    created, updated, other = _entry_counts(body)
    return UploadResult(patient.key, _name(patient), created, updated, other)


def _summary_table(results: list[UploadResult], base_url: str) -> Table:
    table = Table(title=f"Demo patients on {base_url}", title_justify="left")
    table.add_column("Patient id on the server")
    table.add_column("Name")
    table.add_column("Created", justify="right")
    table.add_column("Updated", justify="right")
    if any(r.other for r in results):
        table.add_column("Other", justify="right")
    for r in results:
        row = [r.patient, r.name, str(r.created), str(r.updated)]
        if any(x.other for x in results):
            row.append(str(r.other))
        table.add_row(*row)
    return table


def upload_demo(
    fhir_server: str,
    bearer: str | None,
    *,
    on: dt.date | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Upload every demo patient; returns the process exit code (0 done, 1 refused or unreachable)."""
    out = console or Console()
    base_url = fhir_server.rstrip("/")
    today = on or dt.date.today()
    patients = load_demo_patients(today)
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    results: list[UploadResult] = []
    failure: tuple[str, str] | None = None
    with (
        httpx.Client(headers=headers, timeout=TIMEOUT_SECONDS, transport=transport) as client,
        Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task("Uploading demo patients", total=len(patients))
        for patient in patients:
            progress.update(task, description=f"Uploading {patient.key}")
            try:
                results.append(upload_patient(client, base_url, patient))
            except UploadError as exc:
                failure = (patient.key, str(exc))
                break
            progress.advance(task)
        progress.update(task, description="Uploaded demo patients" if failure is None else "Upload stopped")
    if results:
        out.print(_summary_table(results, base_url))
    if failure is not None:
        key, message = failure
        out.print(f"[bold red]The FHIR server refused {key}:[/]", highlight=False)
        out.print(message, markup=False, highlight=False)
        return 1
    created = sum(r.created for r in results)
    updated = sum(r.updated for r in results)
    out.print(
        f"{len(results)} patient(s): {created} resource(s) created, {updated} updated; dates relative to {today}.",
        highlight=False,
    )
    out.print(try_hook_text(base_url, results[0].patient), markup=False, highlight=False, soft_wrap=True)
    return 0


def try_hook_text(base_url: str, patient_id: str) -> str:
    """The exact hook call to try next: the service must be allowed to read this server."""
    request = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": base_url,
        "context": {"userId": "Practitioner/demo", "patientId": patient_id},
    }
    return (
        "Try the hook against these records (service started with "
        f"TRIAL_SCREEN_ALLOWED_FHIR_SERVERS={base_url}, e.g. `trial-screen serve --demo`):\n"
        f"curl -s -X POST {DEFAULT_SERVICE_URL}/cds-services/trial-prescreen "
        f"-H 'Content-Type: application/json' -d '{json.dumps(request, separators=(',', ':'))}'"
    )
