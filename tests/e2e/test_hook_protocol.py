"""The CDS Hooks 2.0 protocol at the edge: discovery, request errors, size cap, CORS, headers, feedback, cards."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_hooks.discovery import PREFETCH
from service.audit.store import AuditStore
from tests.e2e.conftest import PUBLIC_URL
from tests.integration.hook_support import (
    FEEDBACK_PATH,
    HOOK_PATH,
    assert_valid_cds_response,
    hook_body,
    prefetch_for,
    sle_patient_resources,
    trial_cards,
)
from tests.unit.audit.audit_helpers import make_card

RESOURCES = sle_patient_resources("protocol-patient")
MAX_BYTES = 64 * 1024


@pytest.fixture
def client(make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("TRIAL_SCREEN_MAX_REQUEST_BYTES", str(MAX_BYTES))  # read by Settings from the env
    return make_client(require_jwt=False)


def _body(**changes: Any) -> dict[str, Any]:
    body = hook_body(RESOURCES[0]["id"], prefetch=prefetch_for(RESOURCES))
    body.update(changes)
    return body


def _issue(client: TestClient) -> dict[str, Any]:
    response = client.post(HOOK_PATH, json=_body())
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert_valid_cds_response(payload)
    return payload


def test_discovery(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert len(services) == 1
    service = services[0]
    assert service["id"] == "trial-prescreen"
    assert service["hook"] == "patient-view"
    assert service["description"]
    assert service["title"]
    assert service["prefetch"] == PREFETCH
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    for key, template in service["prefetch"].items():
        if key != "patient":
            assert "patient={{context.patientId}}" in template, key
    for resource_type in (
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationAdministration",
        "Procedure",
        "Immunization",
    ):
        assert any(t.startswith(f"{resource_type}?") for t in service["prefetch"].values()), resource_type


def _without(path: str) -> dict[str, Any]:
    body = _body()
    if "." in path:
        outer, inner = path.split(".")
        del body[outer][inner]
    else:
        del body[path]
    return body


BAD_REQUESTS: list[tuple[str, Callable[[], bytes]]] = [
    ("malformed-json", lambda: b'{"hook": "patient-view", '),
    ("not-an-object", lambda: b"[1, 2, 3]"),
    ("empty-body", lambda: b""),
    ("missing-hook", lambda: json.dumps(_without("hook")).encode()),
    ("missing-hookInstance", lambda: json.dumps(_without("hookInstance")).encode()),
    ("missing-context", lambda: json.dumps(_without("context")).encode()),
    ("missing-patientId", lambda: json.dumps(_without("context.patientId")).encode()),
    ("wrong-hook", lambda: json.dumps(_body(hook="order-sign")).encode()),
    ("bad-patientId", lambda: json.dumps(_body(context={"userId": "Practitioner/1", "patientId": "../x?y"})).encode()),
]


@pytest.mark.parametrize("make_body", [b for _, b in BAD_REQUESTS], ids=[n for n, _ in BAD_REQUESTS])
def test_bad_request_is_400_with_a_json_reason(client: TestClient, make_body: Callable[[], bytes]) -> None:
    response = client.post(HOOK_PATH, content=make_body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json().get("reason"), str)
    assert response.json()["reason"]
    assert "Traceback" not in response.text


def test_unknown_service_is_404(client: TestClient) -> None:
    for path in ("/cds-services/no-such-service", "/cds-services/no-such-service/feedback"):
        response = client.post(path, json=_body())
        assert response.status_code == 404, response.text
        assert response.json().get("reason")


def test_body_over_the_cap_is_413(client: TestClient) -> None:
    body = _body()
    body["prefetch"]["padding"] = {"resourceType": "Basic", "text": "x" * (MAX_BYTES + 1)}
    response = client.post(HOOK_PATH, json=body)
    assert response.status_code == 413, response.text
    assert response.json().get("reason")

    def chunks() -> Any:  # no Content-Length: the cap must hold while streaming too
        data = json.dumps(body).encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    response = client.post(HOOK_PATH, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text


def test_cors_preflight_from_the_sandbox(client: TestClient) -> None:
    origin = "https://sandbox.cds-hooks.org"
    response = client.options(
        HOOK_PATH,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    simple = client.get("/cds-services", headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] in ("*", origin)


def test_security_headers(client: TestClient) -> None:
    for response in (
        client.get("/cds-services"),
        client.post(HOOK_PATH, json=_body()),
        client.post(HOOK_PATH, content=b"{", headers={"Content-Type": "application/json"}),
        client.post("/cds-services/nope", json={}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "referrer-policy" in response.headers
        assert "no-store" in response.headers["cache-control"]


def test_feedback_accepted_and_overridden_are_stored(client: TestClient) -> None:
    cards = trial_cards(_issue(client))
    assert len(cards) >= 2
    accepted, overridden = cards[0], cards[1]
    feedback = {
        "feedback": [
            {
                "card": accepted["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
            },
            {
                "card": overridden["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": "urn:trial-screen:override-reason", "code": "already-referred"},
                    "userComment": "referred last week",
                },
                "outcomeTimestamp": "2026-11-23T10:01:00Z",
            },
        ]
    }
    response = client.post(FEEDBACK_PATH, json=feedback)
    assert response.status_code == 200, response.text
    audit = client.app.state.audit  # type: ignore[attr-defined]
    stored_accepted = audit.get_card(accepted["uuid"]).feedback
    assert [f.outcome for f in stored_accepted] == ["accepted"]
    assert stored_accepted[0].accepted_suggestions == [accepted["suggestions"][0]["uuid"]]
    stored_overridden = audit.get_card(overridden["uuid"]).feedback
    assert [f.outcome for f in stored_overridden] == ["overridden"]
    assert stored_overridden[0].override_reason_code == "already-referred"
    assert stored_overridden[0].user_comment == "referred last week"


def test_feedback_for_an_unknown_card_is_404(client: TestClient) -> None:
    feedback = {
        "feedback": [
            {
                "card": "00000000-0000-4000-8000-000000000000",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
            }
        ]
    }
    response = client.post(FEEDBACK_PATH, json=feedback)
    assert response.status_code == 404, response.text
    assert response.json().get("reason")


def test_malformed_feedback_is_400(client: TestClient) -> None:
    for body in ({}, {"feedback": []}, {"feedback": [{"card": "x", "outcome": "maybe"}]}):
        response = client.post(FEEDBACK_PATH, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json().get("reason")


def test_card_shape_per_contract(client: TestClient) -> None:
    payload = _issue(client)
    cards = trial_cards(payload)
    assert cards
    assert len({c["uuid"] for c in cards}) == len(cards)
    for card in cards:
        assert card["uuid"]
        assert len(card["summary"]) < 140
        assert card["summary"].startswith(("Eligible", "Possibly eligible"))
        assert card["indicator"] == "info"
        assert isinstance(card["detail"], str)
        assert card["detail"].strip()
        source = card["source"]
        assert source["label"]
        topic = source["topic"]
        assert topic["system"] == "urn:trial-screen:trial"
        assert topic["code"]
        assert topic["display"]
        links = card["links"]
        report_links = [link for link in links if link["url"].startswith(f"{PUBLIC_URL}/reports/{card['uuid']}")]
        assert len(report_links) == 1
        assert report_links[0]["type"] == "absolute"
        assert report_links[0]["label"]
        if topic["code"] in ("uwd-cd19-aid", "bcma-cd19-aid-anhui"):
            assert any("clinicaltrials.gov" in link["url"] for link in links)
        assert len(card["suggestions"]) == 1
        suggestion = card["suggestions"][0]
        assert suggestion["label"]
        assert suggestion["uuid"]
        assert len(suggestion["actions"]) == 1
        action = suggestion["actions"][0]
        assert action["type"] == "create"
        assert action["description"]
        resource = action["resource"]
        assert resource["resourceType"] == "ServiceRequest"
        ServiceRequest.model_validate(resource)  # FHIR R4(B): raises when invalid
        assert resource["subject"]["reference"] == f"Patient/{RESOURCES[0]['id']}"
        assert card["selectionBehavior"] == "at-most-one"
        reasons = card["overrideReasons"]
        assert reasons
        assert all(r["system"] and r["code"] and r["display"] for r in reasons)


def test_no_referral_is_suggested_for_a_deceased_patient(client: TestClient) -> None:
    deceased = [{**RESOURCES[0], "deceasedDateTime": "2026-10-01"}, *RESOURCES[1:]]
    body = hook_body(deceased[0]["id"], prefetch=prefetch_for(deceased))
    response = client.post(HOOK_PATH, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["cards"] == []


def test_cards_that_cannot_be_recorded_are_withheld(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit queue stays full (the database is down): a valid answer, a warning, and no trial card."""
    monkeypatch.setattr("cds_hooks.routes.AUDIT_ROOM_WAIT_SECONDS", 0.01)
    audit = client.app.state.audit  # type: ignore[attr-defined]
    monkeypatch.setattr(audit, "submit_cards", lambda *_args, **_kw: False)
    payload = _issue(client)
    assert trial_cards(payload) == []
    [card] = payload["cards"]
    assert card["indicator"] == "warning"
    assert "cannot be recorded" in card["summary"]


def test_returned_cards_are_readable_from_the_audit_trail_at_once(client: TestClient) -> None:
    """Writes are behind the response, but every read waits for them."""
    issued = trial_cards(_issue(client))
    assert issued
    audit = client.app.state.audit  # type: ignore[attr-defined]
    for card in issued:
        assert audit.get_card(card["uuid"]) is not None


def test_feedback_waits_for_a_card_still_queued_by_another_worker(client: TestClient) -> None:
    """`serve --workers N`: the card was returned by one process and its row is still in that process's queue
    when the feedback reaches another. Two stores on one database play the two processes."""
    audit = client.app.state.audit  # type: ignore[attr-defined]
    other_worker = AuditStore(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    card = make_card()
    held = threading.Event()
    real_write = other_worker.record_cards

    def slow_write(cards: Any) -> None:
        held.wait(5)
        real_write(cards)

    other_worker.record_cards = slow_write  # type: ignore[method-assign]
    assert other_worker.submit_cards([card])
    threading.Timer(0.2, held.set).start()
    feedback = {
        "feedback": [{"card": card.card_uuid, "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}]
    }
    response = client.post(FEEDBACK_PATH, json=feedback)
    assert response.status_code == 200, response.text
    assert [f.outcome for f in audit.get_card(card.card_uuid).feedback] == ["overridden"]
    other_worker.close()
