"""Inputs an attacker or a broken client sends: each is a 400 naming the field, never a 500, never a card that
the audit trail cannot keep."""

from __future__ import annotations

import copy
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
            ("observations", "medicationRequests", "medicationStatements", "procedures", "immunizations"), EMPTY
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
