"""Inputs an attacker or a broken client sends: each is a 400 naming the field, never a 500, never a card that
the audit trail cannot keep."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

HOOK = "/cds-services/trial-prescreen"
EMPTY = {"resourceType": "Bundle", "type": "searchset"}
CALL: dict[str, Any] = {
    "hook": "patient-view",
    "hookInstance": "d4e5f6",
    "context": {"userId": "Practitioner/demo", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"},
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Condition",
                        "id": "c1",
                        "subject": {"reference": "Patient/p1"},
                        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
                    }
                }
            ],
        },
        **dict.fromkeys(
            (
                "observations",
                "medicationRequests",
                "medicationStatements",
                "medicationAdministrations",
                "procedures",
                "immunizations",
            ),
            EMPTY,
        ),
    },
}
FEEDBACK: dict[str, Any] = {
    "feedback": [
        {
            "card": "00000000-0000-0000-0000-000000000000",
            "outcome": "overridden",
            "overrideReason": {"reason": {"system": "urn:x", "code": "patient-declined", "display": "Declined"}},
            "outcomeTimestamp": "2026-11-23T10:00:00Z",
        }
    ]
}


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(require_jwt=False)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("hookInstance",), "h" * 129, "hookInstance must be at most 128 characters"),
        (("context", "userId"), "Practitioner/" + "u" * 250, "context.userId must be at most 256 characters"),
        (("fhirServer",), "https://fhir.example.org/" + "x" * 2048, "fhirServer must be at most 2048 characters"),
        (("hookInstance",), "abc\x00", "request body must not contain NUL characters"),
        (("context", "userId"), "Practitioner/\x00", "request body must not contain NUL characters"),
        (("prefetch", "conditions", "entry", 0, "resource", "id"), "c\x001", "request body must not contain NUL"),
    ],
)
def test_hook_fields_the_audit_trail_cannot_keep_are_a_400(
    client: TestClient, path: tuple[Any, ...], value: str, reason: str
) -> None:
    response = client.post(HOOK, content=orjson.dumps(_with(CALL, path, value)))
    assert response.status_code == 400
    assert response.json()["reason"].startswith(reason)


def test_the_favourable_call_next_to_them_still_gets_its_card_and_it_is_stored(client: TestClient) -> None:
    response = client.post(HOOK, content=orjson.dumps(_with(CALL, ("hookInstance",), "h" * 128)))
    assert response.status_code == 200
    cards = [c for c in response.json()["cards"] if "uuid" in c]
    assert cards
    audit = client.app.state.audit  # type: ignore[attr-defined]
    assert audit.flush(10)
    assert audit.get_card(cards[0]["uuid"]) is not None
    assert client.get("/health").json() == {"status": "ok", "audit": {"pending": 0, "deadLetters": 0}}


def test_a_backslash_before_u0000_is_not_a_nul(client: TestClient) -> None:
    body = orjson.dumps(_with(CALL, ("hookInstance",), "a\\u0000"))
    assert client.post(HOOK, content=body).status_code == 200


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("feedback", 0, "overrideReason", "reason", "code"), "c" * 257, "feedback[0].overrideReason.reason.code"),
        (("feedback", 0, "overrideReason", "reason", "display"), "x\x00y", "request body must not contain NUL"),
        (("feedback", 0, "outcomeTimestamp"), "9999-12-31T23:59:59-05:00", "feedback[0].outcomeTimestamp must be"),
    ],
)
def test_feedback_the_audit_trail_cannot_keep_is_a_400(
    client: TestClient, path: tuple[Any, ...], value: str, reason: str
) -> None:
    response = client.post(f"{HOOK}/feedback", content=orjson.dumps(_with(FEEDBACK, path, value)))
    assert response.status_code == 400, response.text
    assert response.json()["reason"].startswith(reason)


AUDIT_TOKEN = "audit-secret"


@pytest.fixture
def audited(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client(require_jwt=False, audit_token=AUDIT_TOKEN)
    client.headers["Authorization"] = f"Bearer {AUDIT_TOKEN}"
    return client


def _cursor(row_id: int) -> str:
    payload = json.dumps({"v": 1, "t": "2026-01-01T00:00:00+00:00", "i": row_id}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/audit/cards", "/audit/cards.csv", "/audit"])
@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01T00:00:00%2B05:00", "to=9999-12-31T23:59:59-05:00"])
def test_a_date_bound_beyond_the_calendar_leaves_that_side_open(audited: TestClient, path: str, query: str) -> None:
    """Schema-valid dates (OpenAPI: date or date-time) are answered, never a 500; every card lies within them."""
    assert audited.get(f"{path}?{query}").status_code == 200


@pytest.mark.parametrize("path", ["/audit/cards", "/audit/cards.csv"])
def test_an_unreadable_date_is_still_a_400(audited: TestClient, path: str) -> None:
    response = audited.get(f"{path}?to=2026-13-01")
    assert response.status_code == 400
    assert "to must be an ISO date" in response.json()["reason"]


@pytest.mark.parametrize("row_id", [2**63, 2**64 + 5, -1])
def test_a_cursor_with_an_id_no_database_holds_is_a_400(audited: TestClient, row_id: int) -> None:
    response = audited.get(f"/audit/cards?cursor={_cursor(row_id)}")
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid cursor"
    assert audited.get(f"/audit/cards?cursor={_cursor(5)}").status_code == 200


def test_a_record_date_at_the_edge_of_the_calendar_is_unreadable_not_a_500(client: TestClient) -> None:
    edge = _with(CALL, ("prefetch", "conditions", "entry", 0, "resource", "onsetDateTime"), "0001-01-01T00:00:00+05:00")
    response = client.post(HOOK, content=orjson.dumps(edge))
    assert response.status_code == 200
    assert response.json()["cards"]  # the SLE diagnosis still counts; only its onset is unreadable


@pytest.mark.parametrize("on", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_a_screening_date_far_outside_any_screening_is_a_400(client: TestClient, on: str) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": CALL["prefetch"]["patient"]}]}
    response = client.post(f"/screening?on={on}", content=orjson.dumps(bundle))
    assert response.status_code == 400
    assert response.json()["reason"].startswith("invalid request: query.on (Input should be")
    assert client.post("/screening?on=2026-11-23", content=orjson.dumps(bundle)).status_code == 200
