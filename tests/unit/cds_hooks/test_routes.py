"""The hook's routes take the bare request (`BareRoute`): documented as before, answering as before; screening
runs on the event loop for a record of the usual size, in a worker thread for a large one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_hooks import routes
from cds_hooks.deps import INLINE_SCREENING_MAX_RESOURCES
from service.app import create_app
from service.fhir_access.resource_types import PREFETCHED
from service.settings import Settings

HOOK = "/cds-services/trial-prescreen"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/audit.sqlite3", require_jwt=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _body(observations: int) -> dict[str, Any]:
    entries = [
        {
            "resource": {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "valueQuantity": {"value": 60, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
                "effectiveDateTime": "2026-01-01",
            }
        }
        for i in range(observations)
    ]
    empty = {"resourceType": "Bundle", "type": "searchset"}
    prefetch: dict[str, Any] = {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"},
        "observations": {**empty, "entry": entries},
    }
    for key in PREFETCHED:
        prefetch.setdefault(key, empty)
    return {
        "hook": "patient-view",
        "hookInstance": "h1",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": prefetch,
    }


@pytest.mark.parametrize(
    ("observations", "in_worker_thread"),
    [(1, False), (INLINE_SCREENING_MAX_RESOURCES, False), (INLINE_SCREENING_MAX_RESOURCES + 1, True)],
)
def test_large_records_are_screened_in_a_worker_thread(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, observations: int, in_worker_thread: bool
) -> None:
    screened_in: list[str] = []
    real = routes.prescreen

    def spy(*args: Any, **kwargs: Any) -> Any:
        screened_in.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(routes, "prescreen", spy)
    response = client.post(HOOK, json=_body(observations))
    assert response.status_code == 200, response.text
    assert len(screened_in) == 1
    assert screened_in[0].startswith("AnyIO worker thread") is in_worker_thread


def test_the_bare_routes_are_documented_with_their_path_parameter_and_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    hook = paths["/cds-services/{service_id}"]["post"]
    assert [p["name"] for p in hook["parameters"]] == ["service_id"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HookRequest"}
    assert {"200", "400", "401", "403", "404", "408", "413", "503"} <= set(hook["responses"])
    feedback = paths["/cds-services/{service_id}/feedback"]["post"]
    assert [p["name"] for p in feedback["parameters"]] == ["service_id"]
    assert "parameters" not in paths["/cds-services"]["get"]


def test_an_unknown_service_id_is_still_404(client: TestClient) -> None:
    response = client.post("/cds-services/other", json=_body(1))
    assert response.status_code == 404
    assert response.json() == {"error": "not-found", "reason": "no such CDS service"}


def test_a_call_is_answered_with_the_cards_and_the_edge_headers(client: TestClient) -> None:
    response = client.post(HOOK, json=_body(3), headers={"Origin": "https://ehr.example"})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["cards"], list)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.post(f"{HOOK}/feedback", json={"feedback": []}).status_code == 400
