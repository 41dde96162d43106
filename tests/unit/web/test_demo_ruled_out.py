"""Why no card, on the demo page: the deciding criteria of each trial a demo patient is ruled out of."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def _client(tmp_path: Path, **fields: object) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'audit.db'}", demo=True, require_jwt=False, **fields)
    return TestClient(create_app(settings))


def test_the_pregnant_patient_is_told_why(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        trials = client.get("/demo/patients/demo-sle-pregnant/ruled-out").json()["trials"]
    assert len(trials) == 5
    assert all(t["reasons"] for t in trials)
    assert any("Pregnancy test (hCG) positive" in r for t in trials for r in t["reasons"])


def test_the_favourable_patient_has_no_reason_for_its_carded_trials(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        trials = client.get("/demo/patients/demo-sle-eligible/ruled-out").json()["trials"]
        cards = client.post(
            "/cds-services/trial-prescreen",
            json={
                "hook": "patient-view",
                "hookInstance": "h",
                "context": {"userId": "P/1", "patientId": "demo-sle-eligible"},
            },
        ).json()["cards"]
    carded = {c["source"]["topic"]["code"] for c in cards}
    assert carded
    assert not carded & {t["trial"] for t in trials}
    assert not any("regnan" in r for t in trials for r in t["reasons"])


def test_an_unknown_demo_patient_is_a_404(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert client.get("/demo/patients/nobody/ruled-out").status_code == 404


def test_the_page_says_how_to_open_the_audit_trail(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert "TRIAL_SCREEN_AUDIT_TOKEN=choose-one trial-screen serve --demo" in client.get("/demo").text
    with _client(tmp_path, audit_token="t0ken") as client:
        page = client.get("/demo").text
    assert "Sign in there with the audit token" in page
    assert "t0ken" not in page
