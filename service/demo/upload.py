"""`trial-screen load-demo`: upload the demo patients to a FHIR server as transaction Bundles.

Every resource is a conditional create keyed by its stable identifier (`ifNoneExist`), so a second run creates
nothing: the server answers each entry `201 Created` the first time and `200 OK` (already there) afterwards.
On a 4xx/5xx the server's OperationOutcome text is printed and the exit code is 1.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.demo.patients import DemoPatient, load_demo_patients

FHIR_JSON = "application/fhir+json"
TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class UploadResult:
    patient: str
    name: str
    created: int
    existing: int
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
    """(created, already there, other) from a transaction-response Bundle's entry.response.status codes."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise UploadError("the server did not answer with a transaction-response Bundle")
    created = existing = other = 0
    for entry in body.get("entry") or []:
        status = str(((entry or {}).get("response") or {}).get("status", "")).strip()
        code = status.split(" ", 1)[0]
        if code == "201":
            created += 1
        elif code == "200":
            existing += 1
        else:
            other += 1
    return created, existing, other


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
    created, existing, other = _entry_counts(body)
    return UploadResult(patient.key, _name(patient), created, existing, other)


def _summary_table(results: list[UploadResult], base_url: str) -> Table:
    table = Table(title=f"Demo patients on {base_url}", title_justify="left")
    table.add_column("Patient")
    table.add_column("Name")
    table.add_column("Created", justify="right")
    table.add_column("Already there", justify="right")
    if any(r.other for r in results):
        table.add_column("Other", justify="right")
    for r in results:
        row = [r.patient, r.name, str(r.created), str(r.existing)]
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
    patients = load_demo_patients(on or dt.date.today())
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
    existing = sum(r.existing for r in results)
    out.print(
        f"{len(results)} patient(s): {created} resource(s) created, {existing} already there.",
        highlight=False,
    )
    return 0
