"""CDS Hooks wire models: parse errors name the field (never the value); responses carry no null/empty."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from cds_hooks.models import (
    Action,
    Card,
    CdsResponse,
    Coding,
    Discovery,
    HookRequestError,
    Link,
    ServiceDescriptor,
    Source,
    Suggestion,
    parse_feedback_request,
    parse_hook_request,
)

PHI = "Jane-Q-Public-1961"


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "https://fhir.example.org/r4",
        "fhirAuthorization": {
            "access_token": "opaque-secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "trial-screen",
        },
        "context": {"userId": "Practitioner/1", "patientId": "pat-1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "pat-1"}, "conditions": None},
    }
    body.update(changes)
    return body


def reason_for(body: Any) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(HookRequestError) as info:
        parse_hook_request(raw)
    assert PHI not in info.value.reason
    return info.value.reason


def test_parses_a_spec_request() -> None:
    req = parse_hook_request(json.dumps(request(extension={"x": 1})).encode(), expected_hook="patient-view")
    assert req.hook_instance.startswith("d1577c69")
    assert req.patient_view.patient_id == "pat-1"
    assert req.prefetch == {"patient": {"resourceType": "Patient", "id": "pat-1"}, "conditions": None}
    assert req.fhir_authorization is not None
    assert req.fhir_authorization.access_token.get_secret_value() == "opaque-secret-token"
    assert "opaque-secret-token" not in repr(req)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "request body is empty"),
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object"),
        ({k: v for k, v in request().items() if k != "hook"}, "hook is required"),
        ({k: v for k, v in request().items() if k != "hookInstance"}, "hookInstance is required"),
        ({k: v for k, v in request().items() if k != "context"}, "context is required"),
        (request(context={"userId": "Practitioner/1"}), "context.patientId is required"),
        (request(context={"patientId": "p"}), "context.userId is required"),
        (request(context=PHI), "context must be a JSON object"),
        (request(hookInstance=42), "hookInstance must be a string"),
        (request(hook=""), "hook must not be empty"),
        (request(fhirServer="not a url " + PHI), "fhirServer must be an absolute http(s) URL"),
        (request(prefetch=[PHI]), "prefetch must be a JSON object"),
        (
            request(fhirAuthorization={"token_type": "Bearer"}),
            "fhirAuthorization.access_token is required",
        ),
    ],
)
def test_parse_errors_name_the_field(body: Any, reason: str) -> None:
    assert reason_for(body) == reason


def test_patient_id_must_be_a_fhir_id_and_is_not_echoed() -> None:
    reason = reason_for(request(context={"userId": "u", "patientId": f"{PHI}/../../Patient?name=x"}))
    assert reason == "context.patientId must be a FHIR resource id"


def test_fhir_authorization_requires_fhir_server() -> None:
    body = request()
    del body["fhirServer"]
    assert reason_for(body) == "fhirServer is required when fhirAuthorization is given"


def test_token_type_must_be_bearer_and_token_is_not_echoed() -> None:
    body = request(fhirAuthorization={"access_token": "opaque-secret-token", "token_type": "MAC"})
    reason = reason_for(body)
    assert reason.startswith("fhirAuthorization.token_type must be")
    assert "opaque-secret-token" not in reason


def test_expected_hook() -> None:
    with pytest.raises(HookRequestError, match="hook must be 'patient-view'"):
        parse_hook_request(json.dumps(request(hook="order-sign")).encode(), expected_hook="patient-view")


def test_other_hooks_do_not_need_patient_view_context() -> None:
    assert parse_hook_request(json.dumps(request(hook="order-sign", context={"x": 1})).encode())


def test_non_object_prefetch_values_count_as_not_provided() -> None:
    req = parse_hook_request(json.dumps(request(prefetch={"user": "123", "p": None})).encode())
    assert req.prefetch == {"p": None}


def card(**changes: Any) -> Card:
    fields: dict[str, Any] = {
        "summary": "Possibly eligible: uwd-cd19-aid (SLE arm)",
        "indicator": "info",
        "source": Source(label="trial-screen"),
    }
    fields.update(changes)
    return Card(**fields)


def test_summary_must_be_under_140_chars() -> None:
    assert card(summary="x" * 139)
    with pytest.raises(ValidationError) as info:
        card(summary="x" * 140)
    assert info.value.errors()[0]["loc"] == ("summary",)


def test_suggestions_need_selection_behavior() -> None:
    suggestion = Suggestion(
        label="Refer", actions=[Action(type="create", description="d", resource={"resourceType": "X"})]
    )
    with pytest.raises(ValidationError, match="selectionBehavior is required"):
        card(suggestions=[suggestion])
    assert card(suggestions=[suggestion], selection_behavior="at-most-one")


def test_override_reasons_need_display() -> None:
    with pytest.raises(ValidationError, match="display"):
        card(override_reasons=[Coding(system="urn:x", code="c")])


def test_create_action_needs_resource() -> None:
    with pytest.raises(ValidationError, match="resource is required"):
        Action(type="create", description="d")


def test_link_app_context_only_for_smart() -> None:
    with pytest.raises(ValidationError, match="appContext"):
        Link(label="l", url="https://x.example", type="absolute", app_context="{}")


def test_responses_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Source(label="s", colour="red")  # type: ignore[call-arg]


def test_to_json_drops_none_and_empty_and_uses_camel_case() -> None:
    c = card(
        uuid="c-1",
        detail=None,
        links=[],
        source=Source(label="trial-screen", topic=Coding(system="urn:trial-screen:trial", code="t1")),
        suggestions=[
            Suggestion(
                label="Refer",
                uuid="s-1",
                actions=[
                    Action(
                        type="create",
                        description="Refer",
                        resource={"resourceType": "ServiceRequest", "note": [], "x": {}, "y": None},
                    )
                ],
            )
        ],
        selection_behavior="at-most-one",
        override_reasons=[Coding(system="urn:r", code="declined", display="Patient declined")],
    )
    out = CdsResponse(cards=[c], system_actions=[]).to_json()
    assert out == {
        "cards": [
            {
                "uuid": "c-1",
                "summary": "Possibly eligible: uwd-cd19-aid (SLE arm)",
                "indicator": "info",
                "source": {
                    "label": "trial-screen",
                    "topic": {"system": "urn:trial-screen:trial", "code": "t1"},
                },
                "suggestions": [
                    {
                        "label": "Refer",
                        "uuid": "s-1",
                        "actions": [
                            {
                                "type": "create",
                                "description": "Refer",
                                "resource": {"resourceType": "ServiceRequest"},
                            }
                        ],
                    }
                ],
                "selectionBehavior": "at-most-one",
                "overrideReasons": [{"system": "urn:r", "code": "declined", "display": "Patient declined"}],
            }
        ]
    }


def test_empty_response_keeps_cards() -> None:
    assert CdsResponse().to_json() == {"cards": []}
    assert Discovery().to_json() == {"services": []}


def test_discovery_serialises() -> None:
    d = Discovery(
        services=[
            ServiceDescriptor(
                hook="patient-view",
                title="Trial pre-screen",
                description="d",
                id="trial-prescreen",
                prefetch={"patient": "Patient/{{context.patientId}}"},
            )
        ]
    )
    assert d.to_json()["services"][0]["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
    assert "usageRequirements" not in d.to_json()["services"][0]


def test_feedback_accepted() -> None:
    body = {
        "feedback": [
            {
                "card": "c-1",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s-1"}],
                "outcomeTimestamp": "2020-12-11T00:00:00Z",
            },
            {
                "card": "c-2",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": "urn:r", "code": "declined", "display": "Declined"},
                    "userComment": "not now",
                },
                "outcomeTimestamp": "2020-12-11T01:00:00+01:00",
            },
        ]
    }
    fb = parse_feedback_request(json.dumps(body).encode())
    assert fb.feedback[0].accepted_suggestions is not None
    assert fb.feedback[0].accepted_suggestions[0].id == "s-1"
    assert fb.feedback[1].outcome_timestamp.isoformat() == "2020-12-11T00:00:00+00:00"
    reason = fb.feedback[1].override_reason
    assert reason is not None
    assert reason.reason is not None
    assert reason.reason.code == "declined"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (
            {"outcome": "overridden", "outcomeTimestamp": "2020-12-11T00:00:00Z"},
            "feedback[0].card is required",
        ),
        (
            {"card": "c", "outcome": "ignored", "outcomeTimestamp": "2020-12-11T00:00:00Z"},
            "feedback[0].outcome must be 'accepted' or 'overridden'",
        ),
        (
            {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2020-12-11T00:00:00Z"},
            "feedback[0]: acceptedSuggestions is required for accepted outcomes",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": PHI},
            "feedback[0].outcomeTimestamp must be an ISO 8601 timestamp",
        ),
    ],
)
def test_feedback_errors_name_the_field(item: dict[str, Any], reason: str) -> None:
    with pytest.raises(HookRequestError) as info:
        parse_feedback_request(json.dumps({"feedback": [item]}).encode())
    assert info.value.reason == reason


def test_feedback_must_not_be_empty() -> None:
    with pytest.raises(HookRequestError, match="feedback must not be empty"):
        parse_feedback_request(b'{"feedback": []}')
