"""Shared helpers for the hook-level integration and e2e tests (no pytest fixtures here).

- ``serve_app``: a real uvicorn server for an ASGI app, in a thread, on a free loopback port.
- ``sle_patient_resources``: one patient of our own (service.demo.builder) that screens eligible / possibly
  eligible for several trials.
- ``hook_body`` / ``prefetch_for``: CDS Hooks request bodies.
- ``assert_valid_cds_response``: the shape every hook answer must have.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import httpx
import uvicorn

from bench.fhir_server import free_port
from cds_hooks.discovery import PREFETCH
from service.demo.builder import build_resources
from service.screening.screen import Screener, load_screener

HOOK_PATH = "/cds-services/trial-prescreen"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"
PATIENT_NAME = "Quenby-Marchetti, Zelphine"
BIRTH_DATE = "1985-04-02"


@cache
def shared_screener() -> Screener:
    """The bundled trials, loaded once per test process (create_app(settings, screener) skips the reload)."""
    return load_screener()


@contextmanager
def serve_app(app: Any, *, log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1:<free port> in a daemon thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=True,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def serve_hanging() -> Iterator[str]:
    """A TCP server on loopback that accepts connections and never answers; yields a FHIR base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)  # keep it open, read nothing, answer nothing

    thread = threading.Thread(target=loop, name="hanging-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def sle_spec(name: str = PATIENT_NAME, birth_date: str = BIRTH_DATE) -> dict[str, Any]:
    """SLE, SLEDAI-2K 10, labs in range, prednisone + mycophenolate for 2 years, negative hCG."""
    return {
        "patient": {"name": name, "gender": "female", "birthDate": birth_date},
        "conditions": [
            {"code": "http://snomed.info/sct|55464009", "display": "Systemic lupus erythematosus", "onset": "-6y"}
        ],
        "observations": [
            {"code": "http://loinc.org|8116-6", "value": 150, "unit": "/uL", "date": "-10d"},
            {"code": "http://loinc.org|751-8", "value": 2.1, "unit": "10*3/uL", "date": "-10d"},
            {"code": "http://loinc.org|718-7", "value": 112, "unit": "g/L", "date": "-10d"},
            {"code": "http://loinc.org|1742-6", "value": 25, "unit": "U/L", "high": 40, "date": "-10d"},
            {"code": "http://loinc.org|1920-8", "value": 22, "unit": "U/L", "high": 40, "date": "-10d"},
            {"code": "http://loinc.org|1975-2", "value": 0.6, "unit": "mg/dL", "high": 1.2, "date": "-10d"},
            {"code": "http://loinc.org|2160-0", "value": 0.8, "unit": "mg/dL", "date": "-10d"},
            {"code": "http://loinc.org|29463-7", "value": 60, "unit": "kg", "date": "-10d"},
            {"code": "urn:trial-screen:score|ecog", "value": 1, "date": "-10d"},
            {"code": "urn:trial-screen:score|sledai-2k", "value": 10, "date": "-10d"},
            {"code": "http://loinc.org|2106-3", "result": "negative", "date": "-3d"},
        ],
        "medications": [
            {
                "code": "http://www.nlm.nih.gov/research/umls/rxnorm|8640",
                "display": "prednisone",
                "start": "-2y",
                "end": "-1d",
            },
            {
                "code": "http://www.nlm.nih.gov/research/umls/rxnorm|68149",
                "display": "mycophenolate mofetil",
                "start": "-2y",
                "end": "-1d",
            },
        ],
    }


def sle_patient_resources(key: str = "ts-sle-hook", **kwargs: Any) -> list[dict[str, Any]]:
    return build_resources(key, sle_spec(**kwargs), dt.date.today())


def searchset(resources: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": dict(r), "search": {"mode": "match"}} for r in resources
        ],
    }


def prefetch_for(resources: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Full prefetch (every discovery key) from in-memory resources, Patient first."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    keys = {
        "conditions": "Condition",
        "observations": "Observation",
        "medicationRequests": "MedicationRequest",
        "medicationStatements": "MedicationStatement",
        "medicationAdministrations": "MedicationAdministration",
        "procedures": "Procedure",
        "immunizations": "Immunization",
    }
    assert set(keys) | {"patient"} == set(PREFETCH), "discovery prefetch keys changed"
    prefetch: dict[str, Any] = {"patient": dict(by_type["Patient"][0])}
    for key, resource_type in keys.items():
        prefetch[key] = searchset(by_type.get(resource_type, []))
    return prefetch


def hook_body(
    patient_id: str,
    *,
    prefetch: Mapping[str, Any] | None = None,
    fhir_server: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read",
            "subject": "cds-service",
        }
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


async def fetch_prefetch(base: str, patient_id: str, token: str | None = None) -> dict[str, Any]:
    """Run the discovery's prefetch templates against a FHIR server, following next links: full prefetch."""
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def one(key: str, template: str) -> None:
            url: str | None = f"{base}/{template.replace('{{context.patientId}}', patient_id)}"
            first: dict[str, Any] | None = None
            while url:
                response = await http.get(url)
                response.raise_for_status()
                page = response.json()
                if first is None:
                    first = page
                else:
                    first.setdefault("entry", []).extend(page.get("entry") or [])
                url = next((link["url"] for link in page.get("link") or [] if link.get("relation") == "next"), None)
                if page.get("resourceType") != "Bundle":
                    break
            assert first is not None
            if first.get("resourceType") == "Bundle":
                first.pop("link", None)
            out[key] = first

        await asyncio.gather(*(one(k, t) for k, t in PREFETCH.items()))
    return out


def card_key(card: Mapping[str, Any]) -> tuple[str, str, str]:
    return ((card.get("source") or {}).get("topic") or {}).get("code", ""), card["summary"], card["indicator"]


def trial_cards(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in response["cards"] if (c.get("source") or {}).get("topic")]


def warning_cards(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in response["cards"] if c["indicator"] == "warning"]


def assert_valid_cds_response(payload: Any) -> None:
    assert isinstance(payload, dict), payload
    assert isinstance(payload.get("cards"), list), payload
    for card in payload["cards"]:
        assert isinstance(card.get("summary"), str), card
        assert 0 < len(card["summary"]) < 140, card
        assert card.get("indicator") in ("info", "warning", "critical"), card
        assert isinstance(card.get("source"), dict), card
        assert card["source"].get("label"), card
        _assert_no_empty(card)


def _assert_no_empty(value: Any, path: str = "card") -> None:
    """CDS Hooks 2.0: no null or empty values anywhere."""
    if isinstance(value, dict):
        assert value, f"empty object at {path}"
        for key, item in value.items():
            assert item is not None, f"null at {path}.{key}"
            _assert_no_empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert value, f"empty list at {path}"
        for index, item in enumerate(value):
            _assert_no_empty(item, f"{path}[{index}]")
    elif isinstance(value, str):
        assert value != "", f"empty string at {path}"


def assert_no_confident_eligible(payload: Mapping[str, Any]) -> None:
    for card in payload["cards"]:
        assert not card["summary"].startswith("Eligible"), card["summary"]


def post_hook_timed(client: Any, body: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """POST the hook, check it answered 200 with a valid CDS response; return it and the seconds it took."""
    started = time.monotonic()
    response = client.post(HOOK_PATH, json=body)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = response.json()
    assert_valid_cds_response(payload)
    return payload, elapsed


@contextmanager
def serve_guarded_fhir(token: str, resources: list[dict[str, Any]]) -> Iterator[str]:
    """A FHIR server on loopback that answers 401 unless the bearer token is `token`; then it serves the patient."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def handle(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse(
                {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}, 401
            )
        kind = request.path_params["path"].split("/")[0]
        if kind == "Patient":
            return JSONResponse(resources[0])
        return JSONResponse(searchset([r for r in resources if r["resourceType"] == kind]))

    with serve_app(Starlette(routes=[Route("/fhir/{path:path}", handle)])) as url:
        yield f"{url}/fhir"
