"""The audit API and pages join the app at their first request or at the first OpenAPI document: answered and
documented as if they had been there from the start, and no other path is taken for theirs."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.settings import Settings

TOKEN = "audit-token-for-tests"


def _client(tmp_path: Path) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/a.sqlite3", audit_token=SecretStr(TOKEN))
    return TestClient(create_app(settings))


def test_the_first_audit_request_is_answered_by_the_audit_routes(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert client.get("/audit/cards").status_code == 401
        listed = client.get("/audit/cards", headers={"Authorization": f"Bearer {TOKEN}"})
        assert listed.status_code == 200
        assert listed.json()["items"] == []


def test_the_first_report_link_and_page_are_answered_by_the_audit_pages(tmp_path: Path) -> None:
    with _client(tmp_path) as client:  # an unsigned report link: the pages' own refusal, as HTML
        report = client.get("/reports/00000000-0000-0000-0000-000000000000")
        assert (report.status_code, report.headers["content-type"]) == (401, "text/html; charset=utf-8")
    with _client(tmp_path) as client:
        assert client.get("/audit", follow_redirects=False).status_code == 401


def test_the_first_openapi_document_lists_the_audit_api(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/audit/cards", "/audit/cards.csv", "/audit/cards/{card_uuid}", "/cds-services"} <= set(paths)


def test_other_paths_are_not_taken(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert client.get("/auditing").status_code == 404
        assert client.get("/reports").status_code == 404
        assert client.get("/cds-services").status_code == 200
