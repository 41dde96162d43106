"""The site configuration reaches the cards: the trial team to call, the site's page, the referral's recipient;
a trial that is not recruiting gives no card; ruled-out trials explain themselves only when asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.screening.sites import SiteConfigError, bundled_sites_file, load_sites
from service.settings import Settings

SITES = """
trials:
  uwd-cd19-aid:
    recruiting: true
    contact: {name: "Dr Ada Rivera, CAR-T unit", phone: "+1 555 0199", email: "cart-unit@hospital.example"}
    referral_recipient: {reference: "PractitionerRole/cart-coordinator", display: "CAR-T unit coordinator"}
    url: https://hospital.example/trials/uwd-cd19
    url_label: "UWD-CD19 at our hospital"
  cd19-cart-active-sle:
    recruiting: false
"""


def _hook(client: TestClient, patient: str) -> list[dict[str, Any]]:
    body = {
        "hook": "patient-view",
        "hookInstance": f"site-{patient}",
        "context": {"userId": "Practitioner/d", "patientId": patient},
    }
    response = client.post("/cds-services/trial-prescreen", json=body)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def _by_trial(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["source"]["topic"]["code"]: c for c in cards if "topic" in c["source"]}


@pytest.fixture
def sites_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.yaml"
    path.write_text(SITES, encoding="utf-8")
    return path


def test_a_card_names_the_trial_team_its_page_and_the_referral_recipient(
    make_client: Callable[..., TestClient], sites_file: Path
) -> None:
    client = make_client(demo=True, require_jwt=False, sites_file=sites_file)
    card = _by_trial(_hook(client, "demo-sle-eligible"))["uwd-cd19-aid"]
    assert "**Trial team:** Dr Ada Rivera, CAR-T unit (+1 555 0199, cart-unit@hospital.example)" in card["detail"]
    links = {link["label"]: link["url"] for link in card["links"]}
    assert links["UWD-CD19 at our hospital"] == "https://hospital.example/trials/uwd-cd19"
    assert links["NCT06821659 on ClinicalTrials.gov"] == "https://clinicaltrials.gov/study/NCT06821659"
    suggestion = card["suggestions"][0]
    assert suggestion["label"] == "Refer to the trial team: CAR-T unit coordinator"
    referral = suggestion["actions"][0]["resource"]
    assert referral["performer"] == [
        {"reference": "PractitionerRole/cart-coordinator", "display": "CAR-T unit coordinator"}
    ]
    assert referral["subject"] == {"reference": "Patient/demo-sle-eligible"}


def test_a_trial_not_recruiting_gives_no_card_and_the_others_still_do(
    make_client: Callable[..., TestClient], sites_file: Path
) -> None:
    with_sites = _by_trial(_hook(make_client(demo=True, require_jwt=False, sites_file=sites_file), "demo-sle-eligible"))
    without = _by_trial(_hook(make_client(demo=True, require_jwt=False), "demo-sle-eligible"))
    assert "cd19-cart-active-sle" in without  # the patient qualifies: only the site's status hides the card
    assert "cd19-cart-active-sle" not in with_sites
    assert set(without) - {"cd19-cart-active-sle"} == set(with_sites)


def test_a_trial_the_file_does_not_name_is_shown_without_site_details(
    make_client: Callable[..., TestClient], sites_file: Path
) -> None:
    cards = _by_trial(_hook(make_client(demo=True, require_jwt=False, sites_file=sites_file), "demo-sle-eligible"))
    other = cards["bcma-cd19-aid-anhui"]
    assert "Trial team" not in other["detail"]
    assert "performer" not in other["suggestions"][0]["actions"][0]["resource"]


def test_the_bundled_demo_sites_give_every_card_a_contact_and_a_recipient(
    make_client: Callable[..., TestClient],
) -> None:
    for card in _hook(make_client(demo=True, require_jwt=False), "demo-sle-eligible"):
        assert "**Trial team:**" in card["detail"]
        assert card["suggestions"][0]["actions"][0]["resource"]["performer"][0]["reference"]


def test_ruled_out_trials_are_silent_unless_the_setting_asks(make_client: Callable[..., TestClient]) -> None:
    assert _hook(make_client(demo=True, require_jwt=False), "demo-sle-pregnant") == []
    cards = _hook(make_client(demo=True, require_jwt=False, ruled_out_cards=True), "demo-sle-pregnant")
    assert cards, "one info card per ruled-out trial"
    for card in cards:
        assert card["indicator"] == "info"
        assert card["summary"].startswith("Not eligible for CAR-T trial: ")
        assert "uuid" not in card
        assert "suggestions" not in card
    assert any("regnan" in card["detail"] for card in cards), [c["detail"] for c in cards]


def test_the_favourable_patient_keeps_its_cards_with_the_setting_on(make_client: Callable[..., TestClient]) -> None:
    cards = _hook(make_client(demo=True, require_jwt=False, ruled_out_cards=True), "demo-sle-eligible")
    referrals = [c for c in cards if c.get("suggestions")]
    assert referrals
    assert all(not c["summary"].startswith("Not eligible") for c in referrals)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("trials:\n  no-such-trial: {recruiting: true}\n", "unknown trial id(s) no-such-trial"),
        ("trials:\n  uwd-cd19-aid: {recruiting: maybe}\n", "trials.uwd-cd19-aid.recruiting"),
        ("trials:\n  uwd-cd19-aid: {recruiting: true, referral_recipient: {reference: Patient/x}}\n", "reference"),
        ("trials:\n  uwd-cd19-aid: {recruiting: true, url: not-a-url}\n", "trials.uwd-cd19-aid.url"),
        ("trials:\n  uwd-cd19-aid: {recruiting: true, phone: 1}\n", "Extra inputs"),
        ("trials: [\n", "not valid YAML"),
    ],
)
def test_a_bad_site_file_fails_the_start_and_says_where(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"sites\.yaml") as raised:
        create_app(Settings(database_url=f"sqlite:///{tmp_path}/a.sqlite3", sites_file=path))
    assert problem in str(raised.value)


def test_the_bundled_site_file_is_valid_for_the_bundled_trials() -> None:
    from service.screening.screen import load_screener

    sites = load_sites(bundled_sites_file(), load_screener().versions())
    assert all(sites.is_recruiting(t) for t in load_screener().versions())
