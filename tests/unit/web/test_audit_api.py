"""The audit API, the coordinator pages and the card's report page, through the real app (SQLite store)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.app import create_app
from service.audit.store import FeedbackRecord
from service.audit.tables import audit_card
from service.fhir_access.bundle import record_from_bundle
from service.screening.contract import CriterionKind, Status, TrialReport
from service.screening.prescreen import CardRecord
from service.screening.screen import Screener, load_screener
from service.settings import Settings
from service.web.audit_access import SESSION_COOKIE, SESSION_SECONDS, AuditGuard

TOKEN = "t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SLE = {"system": "http://snomed.info/sct", "code": "55464009", "display": "Systemic lupus erythematosus"}


def patient_resources(patient_id: str) -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": patient_id, "birthDate": "1990-01-01", "gender": "female"},
        {
            "resourceType": "Condition",
            "id": f"{patient_id}-sle",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"coding": [SLE]},
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "onsetDateTime": "2020-01-01",
        },
    ]


def hook_request(patient_id: str) -> dict[str, Any]:
    patient, *others = patient_resources(patient_id)
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/u1", "patientId": patient_id},
        "prefetch": {
            "patient": patient,
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in others]},
        },
    }


@pytest.fixture(scope="module")
def screener() -> Screener:
    return load_screener()


@pytest.fixture(scope="module")
def real_report(screener: Screener) -> TrialReport:
    """A real screening report of one trial (with arms, evidence and missing data)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in patient_resources("x")],
    }
    report = screener.screen(record_from_bundle(bundle), on=dt.date(2026, 11, 23))
    return next(
        t
        for t in report.trials
        if t.cohorts and t.status is not Status.INELIGIBLE and {c.kind for c in t.criteria} == set(CriterionKind)
    )


def small_trial(trial_id: str = "trial-a", status: str = "possibly-eligible") -> TrialReport:
    """Age met on the Patient resource, an arm's ANC still unknown."""
    return TrialReport.from_json(
        {
            "id": trial_id,
            "title": f"Trial {trial_id}",
            "registryId": None,
            "status": status,
            "cohorts": [{"id": "sle", "title": "SLE", "status": status}],
            "criteria": [
                {
                    "id": "age",
                    "cohort": None,
                    "kind": "inclusion",
                    "text": "Age 18-65",
                    "result": "met",
                    "evidence": [{"reference": "Patient/p1", "display": "Age 36"}],
                    "missing": [],
                },
                {
                    "id": "anc",
                    "cohort": "sle",
                    "kind": "inclusion",
                    "text": "ANC >= 1",
                    "result": "unknown",
                    "evidence": [],
                    "missing": ["ANC"],
                },
            ],
        }
    )


def card(
    report: TrialReport | None = None,
    *,
    trial_id: str = "trial-a",
    trial_status: str = "possibly-eligible",
    **overrides: Any,
) -> CardRecord:
    fields: dict[str, Any] = {
        "card_uuid": str(uuid.uuid4()),
        "hook_instance": str(uuid.uuid4()),
        "patient_ref": "Patient/p1",
        "fhir_server": "https://fhir.example.org/r4",
        "user_ref": "Practitioner/u1",
        "trial": report or small_trial(trial_id, trial_status),
        "trial_version": "0123456789abcdef",
        "service_version": "0.1.0",
        "summary": "Possibly eligible for trial A",
        "created_at": T0,
    }
    fields.update(overrides)
    return CardRecord(**fields)


def feedback(card_uuid: str, outcome: str, minutes: int = 5, **overrides: Any) -> FeedbackRecord:
    fields: dict[str, Any] = {
        "card_uuid": card_uuid,
        "outcome": outcome,
        "override_reason_code": "patient-declined" if outcome == "overridden" else None,
        "override_reason_display": "Patient not interested" if outcome == "overridden" else None,
        "user_comment": "declined at visit" if outcome == "overridden" else None,
        "accepted_suggestions": ["referral"] if outcome == "accepted" else [],
        "outcome_timestamp": T0 + dt.timedelta(minutes=minutes),
    }
    fields.update(overrides)
    return FeedbackRecord(**fields)


def make_app(tmp_path: Path, screener: Screener, **settings: Any) -> FastAPI:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'audit.db'}",
        "audit_token": TOKEN,
        "require_jwt": False,
        **settings,
    }
    return create_app(Settings(**values), screener)


@pytest.fixture
def app(tmp_path: Path, screener: Screener) -> FastAPI:
    return make_app(tmp_path, screener)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def seeded(app: FastAPI, client: TestClient, real_report: TrialReport) -> dict[str, CardRecord]:
    """Six cards: two trials, three patients, one each day from T0, with feedback on three."""
    cards = {
        "a1": card(real_report, created_at=T0),
        "a2": card(patient_ref="Patient/p2", created_at=T0 + dt.timedelta(days=1)),
        "b1": card(trial_id="trial-b", trial_status="eligible", created_at=T0 + dt.timedelta(days=2)),
        "b2": card(trial_id="trial-b", patient_ref="Patient/p2", created_at=T0 + dt.timedelta(days=3)),
        "b3": card(trial_id="trial-b", patient_ref="Patient/p3", created_at=T0 + dt.timedelta(days=4)),
        "a3": card(patient_ref="Patient/p3", created_at=T0 + dt.timedelta(days=5)),
    }
    app.state.audit.record_cards(list(cards.values()))
    app.state.audit.record_feedback(
        [
            feedback(cards["a1"].card_uuid, "accepted"),
            feedback(cards["b1"].card_uuid, "accepted", minutes=1),
            feedback(cards["b1"].card_uuid, "overridden", minutes=9),  # the latest counts
            feedback(cards["b2"].card_uuid, "overridden"),
        ]
    )
    return cards


def uuids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["cardUuid"] for item in response.json()["items"]]


def login(client: TestClient, token: str = TOKEN) -> Any:
    return client.post("/audit/login", data={"token": token}, follow_redirects=False)


# -- who may read ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/audit/cards", "/audit/cards.csv", "/audit/cards/some-uuid"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dDp0"}])
def test_api_refuses_without_the_token(client: TestClient, path: str, headers: dict[str, str]) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.json()["reason"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_token_is_reported_as_invalid_token(client: TestClient) -> None:
    response = client.get("/audit/cards", headers={"Authorization": "Bearer tt"})
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["reason"] == "invalid bearer token"


def test_auth_is_checked_before_query_validation(client: TestClient) -> None:
    assert client.get("/audit/cards?limit=0").status_code == 401
    assert client.get("/audit/cards.csv?from=someday").status_code == 401


@pytest.mark.parametrize("path", ["/audit", "/audit/cards/some-uuid/view", "/reports/some-uuid"])
def test_pages_refuse_with_a_login_form(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert 'name="token"' in response.text
        assert '<label for="token">' in response.text


def test_no_configured_token_refuses_everything(tmp_path: Path, screener: Screener) -> None:
    with TestClient(make_app(tmp_path, screener, audit_token=None)) as c:
        assert c.get("/audit/cards", headers=AUTH).status_code == 401
        assert c.get("/audit/cards", headers={"Authorization": "Bearer "}).status_code == 401
        assert "no audit token" in c.get("/audit/cards").json()["reason"]
        assert login(c).status_code == 401
        assert login(c, "").status_code == 401
        assert c.get("/audit").status_code == 401


# -- API -------------------------------------------------------------------------------------------------------------


def test_list_cards_newest_first_with_camel_case_fields(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    response = client.get("/audit/cards", headers=AUTH)
    order = ["a3", "b3", "b2", "b1", "a2", "a1"]
    assert uuids(response) == [seeded[k].card_uuid for k in order]
    assert response.json()["nextCursor"] is None
    item = response.json()["items"][2]  # b2: overridden
    assert set(item) >= {
        "cardUuid", "createdAt", "patient", "trialId", "trialStatus", "trialVersion", "hookInstance",
        "fhirServer", "user", "summary", "criteria", "evidenceRefs", "feedback",
    }  # fmt: skip
    assert "report" not in item
    assert item["patient"] == "Patient/p2"
    assert item["user"] == "Practitioner/u1"
    assert item["outcome"] == "overridden"
    assert item["criteria"][1] == {
        "id": "anc", "cohort": "sle", "kind": "inclusion", "result": "unknown", "evidence": [], "missing": ["ANC"],
    }  # fmt: skip
    assert item["feedback"] == [
        {
            "outcome": "overridden",
            "overrideReason": {"code": "patient-declined", "display": "Patient not interested"},
            "userComment": "declined at visit",
            "acceptedSuggestions": [],
            "outcomeTimestamp": "2026-03-01T12:05:00Z",
        }
    ]
    assert dt.datetime.fromisoformat(item["createdAt"]) == T0 + dt.timedelta(days=3)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("trial=trial-b", ["b3", "b2", "b1"]),
        ("patient=Patient/p2", ["b2", "a2"]),
        ("patient=p2", ["b2", "a2"]),
        ("status=eligible", ["b1"]),
        ("outcome=accepted", ["a1"]),
        ("outcome=overridden", ["b2", "b1"]),
        ("outcome=none", ["a3", "b3", "a2"]),
        ("from=2026-03-03&to=2026-03-04", ["b2", "b1"]),  # a date "to" includes that whole day
        ("from=2026-03-03T12:00:00Z&to=2026-03-04T12:00:00Z", ["b1"]),  # a date-time "to" is exclusive
        ("from=2026-03-03T13:00:00%2B01:00", ["a3", "b3", "b2", "b1"]),
        ("from=2026-03-05T12:00:00", ["a3", "b3"]),  # no offset: UTC
        ("trial=trial-b&patient=Patient/p3&outcome=none", ["b3"]),
        ("trial=nope", []),
        ("patient=&trial=", ["a3", "b3", "b2", "b1", "a2", "a1"]),
    ],
)
def test_filters(client: TestClient, seeded: dict[str, CardRecord], query: str, expected: list[str]) -> None:
    assert uuids(client.get(f"/audit/cards?{query}", headers=AUTH)) == [seeded[k].card_uuid for k in expected]


def test_an_empty_date_range_is_an_empty_page_not_an_error(client: TestClient) -> None:
    """`from` after `to` is a valid request (OpenAPI: two dates) that no card satisfies."""
    response = client.get("/audit/cards?from=2026-03-05&to=2026-03-01", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("limit=0", "query.limit"),
        ("limit=201", "query.limit"),
        ("limit=ten", "query.limit"),
        ("status=maybe", "query.status"),
        ("outcome=ignored", "query.outcome"),
        ("from=yesterday", "query.from"),
        ("to=2026-13-01", "query.to"),
        ("to=", "query.to"),
        ("patient=" + "x" * 300, "query.patient"),
    ],
)
def test_bad_query_values_are_400(client: TestClient, query: str, where: str) -> None:
    for path in ("/audit/cards", "/audit/cards.csv"):
        if path.endswith(".csv") and query.startswith("limit"):
            continue
        response = client.get(f"{path}?{query}", headers=AUTH)
        assert response.status_code == 400, (path, query)
        assert response.json()["error"] == "bad-request"
        assert where in response.json()["reason"]


def test_bad_cursor_is_400(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    response = client.get("/audit/cards?cursor=bm90LWEtY3Vyc29y", headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {"error": "bad-request", "reason": "invalid cursor"}


def test_cursor_pagination(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/audit/cards?{query}", headers=AUTH).json()
        seen += [item["cardUuid"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == uuids(client.get("/audit/cards", headers=AUTH))
    # the filter applies on every page
    first = client.get("/audit/cards?trial=trial-b&limit=2", headers=AUTH).json()
    rest = client.get(f"/audit/cards?trial=trial-b&limit=2&cursor={first['nextCursor']}", headers=AUTH).json()
    assert [i["cardUuid"] for i in first["items"] + rest["items"]] == [seeded[k].card_uuid for k in ("b3", "b2", "b1")]
    assert rest["nextCursor"] is None


def test_csv_export(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    response = client.get("/audit/cards.csv?trial=trial-b", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "card_uuid", "created_at", "patient_ref", "trial_id", "trial_status", "trial_version", "hook_instance",
        "fhir_server", "user_ref", "outcome", "override_reason", "outcome_timestamp", "evidence_refs",
    ]  # fmt: skip
    assert [r["card_uuid"] for r in rows] == [seeded[k].card_uuid for k in ("b3", "b2", "b1")]
    assert rows[1]["outcome"] == "overridden"
    assert rows[1]["override_reason"] == "Patient not interested"
    assert rows[0]["outcome"] == ""
    empty = client.get("/audit/cards.csv?trial=nope", headers=AUTH)
    assert empty.text.count("\r\n") == 1  # the header only


def test_card_detail(client: TestClient, seeded: dict[str, CardRecord], real_report: TrialReport) -> None:
    a1 = seeded["a1"]
    response = client.get(f"/audit/cards/{a1.card_uuid}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["cardUuid"] == a1.card_uuid
    assert body["report"] == real_report.to_json()
    assert body["evidenceRefs"] == real_report.evidence_references()
    assert body["trialVersion"] == a1.trial_version
    assert body["hookInstance"] == a1.hook_instance
    assert body["fhirServer"] == "https://fhir.example.org/r4"
    assert body["outcome"] == "accepted"
    assert body["feedback"][0]["acceptedSuggestions"] == ["referral"]
    assert body["feedback"][0]["overrideReason"] is None


def test_unknown_card_is_404_json(client: TestClient) -> None:
    response = client.get(f"/audit/cards/{uuid.uuid4()}", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "not-found"
    assert client.get("/audit/cards/" + "x" * 100, headers=AUTH).status_code == 404


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/audit/cards", "/audit/cards/{card_uuid}", "/audit/cards.csv"} <= set(spec["paths"])
    assert "/audit" not in spec["paths"]
    listing = spec["paths"]["/audit/cards"]["get"]
    assert "401" in listing["responses"]
    assert {p["name"] for p in listing["parameters"]} >= {"patient", "trial", "status", "outcome", "from", "to"}
    schemas = spec["components"]["schemas"]
    assert set(schemas["CardPageOut"]["properties"]) == {"items", "nextCursor"}
    assert "evidenceRefs" in schemas["CardOut"]["properties"]
    assert "report" in schemas["CardDetailOut"]["properties"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


# -- login, session, pages --------------------------------------------------------------------------------------------


def test_login_sets_a_signed_httponly_session(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    response = login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert f"Max-Age={SESSION_SECONDS}" in cookie
    assert "Secure" not in cookie  # the public URL is http here
    value = client.cookies[SESSION_COOKIE]
    assert TOKEN not in value.split(".")
    # pages and the API work with the cookie alone
    page = client.get("/audit")
    assert page.status_code == 200
    assert seeded["a1"].card_uuid in page.text
    assert client.get(f"/audit/cards/{seeded['a1'].card_uuid}/view").status_code == 200
    assert uuids(client.get("/audit/cards"))[0] == seeded["a3"].card_uuid
    assert client.get("/audit/cards.csv").status_code == 200
    # logging out clears it
    out = client.post("/audit/logout", follow_redirects=False)
    assert out.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/audit").status_code == 401


def test_login_redirects_to_next_but_never_off_site(client: TestClient) -> None:
    to_card = client.post("/audit/login", data={"token": TOKEN, "next": "/audit?trial=x"}, follow_redirects=False)
    assert to_card.headers["location"] == "/audit?trial=x"
    for evil in ("https://evil.example/", "//evil.example/audit", "/audit/..//evil", "/\\evil"):
        response = client.post("/audit/login", data={"token": TOKEN, "next": evil}, follow_redirects=False)
        assert response.headers["location"] == "/audit"


def test_wrong_login_is_401_with_the_form(client: TestClient) -> None:
    response = login(client, "nope")
    assert response.status_code == 401
    assert "That token is not valid." in response.text
    assert 'name="token"' in response.text
    assert "set-cookie" not in response.headers
    assert client.get("/audit/login").status_code == 200


def test_secure_cookie_when_public_url_is_https(tmp_path: Path, screener: Screener) -> None:
    with TestClient(make_app(tmp_path, screener, public_url="https://screen.example.org")) as c:
        assert "Secure" in login(c).headers["set-cookie"]


@pytest.mark.parametrize("mutate", ["tamper", "expired", "other-token", "garbage"])
def test_bad_sessions_are_refused(tmp_path: Path, client: TestClient, mutate: str) -> None:
    guard = AuditGuard(TOKEN, secure_cookie=False)
    fresh = guard.new_session()
    if mutate == "expired":
        with pytest.MonkeyPatch.context() as patch:  # issued a whole session length (and a second) ago
            patch.setattr(
                "itsdangerous.timed.time.time", lambda: dt.datetime.now(dt.UTC).timestamp() - SESSION_SECONDS - 1
            )
            fresh = guard.new_session()
    value = {
        "tamper": fresh[:-3] + ("aaa" if not fresh.endswith("aaa") else "bbb"),
        "expired": fresh,
        "other-token": AuditGuard("other", secure_cookie=False).new_session(),
        "garbage": "v1.x.y.z",
    }[mutate]
    client.cookies.set(SESSION_COOKIE, value)
    assert client.get("/audit").status_code == 401
    assert client.get("/audit/cards").status_code == 401


def test_list_page(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    login(client)
    page = client.get("/audit?trial=trial-b&outcome=overridden")
    assert page.status_code == 200
    html = page.text
    assert seeded["b2"].card_uuid in html
    assert seeded["b1"].card_uuid in html
    assert seeded["b3"].card_uuid not in html
    assert '<option value="trial-b" selected>' in html
    assert "/audit/cards.csv?trial=trial-b&amp;outcome=overridden" in html
    assert '<th scope="col">Outcome</th>' in html
    assert "Cards per trial and outcome" in html
    counts = client.get("/audit?trial=trial-b").text
    row = counts.split('<th scope="row">trial-b</th>')[1].split("</tr>")[0]
    assert [cell.split(">")[1] for cell in row.split("</td>")[:4]] == ["3", "0", "2", "1"]  # cards, acc, over, none
    assert "Next page" not in counts
    bad = client.get("/audit?from=someday")
    assert bad.status_code == 400
    assert "from must be an ISO date" in bad.text


def test_list_page_paginates(app: FastAPI, client: TestClient) -> None:
    app.state.audit.record_cards([card(created_at=T0 + dt.timedelta(minutes=i)) for i in range(51)])
    login(client)
    first = client.get("/audit?trial=trial-a")
    assert first.text.count("/view") == 50
    assert 'rel="next"' in first.text
    next_url = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "trial=trial-a" in next_url
    assert "cursor=" in next_url
    second = client.get(next_url)
    assert second.text.count("/view") == 1
    assert "First page" in second.text


def test_card_page_shows_the_report_grouped(
    app: FastAPI, client: TestClient, seeded: dict[str, CardRecord], real_report: TrialReport
) -> None:
    login(client)
    html = client.get(f"/audit/cards/{seeded['a1'].card_uuid}/view").text
    assert "Common to all arms" in html
    arm = real_report.cohorts[0]
    assert f"Arm: {arm.title}" in html
    assert "Inclusion criteria" in html
    assert "Exclusion criteria" in html
    first = real_report.criteria[0]
    assert f'data-criterion="{first.id}"' in html
    missing = next(m for c in real_report.criteria for m in c.missing)
    assert missing in html
    assert "accepted" in html  # feedback
    assert seeded["a1"].hook_instance in html
    # a row whose stored report cannot be read still shows the card's own facts
    with app.state.audit._db.engine.begin() as conn:
        unreadable = update(audit_card).where(audit_card.c.card_uuid == seeded["a2"].card_uuid)
        conn.execute(unreadable.values(report={"not": "a trial report"}))
    fallback = client.get(f"/audit/cards/{seeded['a2'].card_uuid}/view")
    assert fallback.status_code == 200
    assert "could not be read" in fallback.text
    assert seeded["a2"].summary in fallback.text
    assert client.get(f"/audit/cards/{seeded['a2'].card_uuid}", headers=AUTH).json()["criteria"] == []
    assert client.get(f"/audit/cards/{uuid.uuid4()}/view").status_code == 404


# -- the card's report link -------------------------------------------------------------------------------------------


def test_report_link_with_a_valid_signature(app: FastAPI, client: TestClient, seeded: dict[str, CardRecord]) -> None:
    a1 = seeded["a1"].card_uuid
    link = app.state.links.report_url(a1)
    path = link[link.index("/reports/") :]
    response = client.get(path)
    assert response.status_code == 200
    assert "Common to all arms" in response.text
    assert 'data-criterion="age"' in response.text
    assert "Log out" not in response.text  # the clinician is not logged in to the audit
    signature = path.split("sig=")[1]
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for bad in (f"/reports/{a1}?sig={tampered}", f"/reports/{a1}", f"/reports/{a1}?sig=", f"/reports/{a1}?sig=é"):
        refused = client.get(bad)
        assert refused.status_code == 401, bad
        assert 'name="token"' in refused.text
    other = seeded["a2"].card_uuid
    assert client.get(f"/reports/{other}?sig={signature}").status_code == 401
    # signed, but not a card we issued
    ghost = str(uuid.uuid4())
    assert client.get(app.state.links.report_url(ghost)[len("http://127.0.0.1:8000") :]).status_code == 404


def test_report_link_with_an_audit_session(client: TestClient, seeded: dict[str, CardRecord]) -> None:
    login(client)
    assert client.get(f"/reports/{seeded['a1'].card_uuid}").status_code == 200


def test_a_real_hook_call_is_audited_and_its_link_opens(app: FastAPI, client: TestClient) -> None:
    response = client.post("/cds-services/trial-prescreen", json=hook_request("p9"))
    assert response.status_code == 200
    cards = [c for c in response.json()["cards"] if c.get("source", {}).get("topic")]
    assert cards
    listed = uuids(client.get("/audit/cards?patient=Patient/p9", headers=AUTH))
    assert sorted(listed) == sorted(c["uuid"] for c in cards)
    link = next(link["url"] for link in cards[0]["links"] if "/reports/" in link["url"])
    report = client.get(link[link.index("/reports/") :])
    assert report.status_code == 200
    assert cards[0]["source"]["topic"]["code"] in report.text
