"""The coordinator pages in headless Chromium: log in, filter the audit list, open a card, see its criteria.

Runs the real ``trial-screen serve`` (not in demo mode: JWT checking off by setting) with its own SQLite store
(``service_factory`` in conftest), creates cards with hook calls for small patients of our own, then drives
Debian's chromium through Playwright. The screenshot is kept as ``artifacts/audit-card.png``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import RunningService

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token"
SLE = {"system": "http://snomed.info/sct", "code": "55464009", "display": "Systemic lupus erythematosus"}


def _hook_request(patient_id: str) -> dict[str, Any]:
    condition = {
        "resourceType": "Condition",
        "id": f"{patient_id}-sle",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [SLE]},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "onsetDateTime": "2020-01-01",
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/browser", "patientId": patient_id},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient_id, "birthDate": "1990-01-01", "gender": "female"},
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]},
        },
    }


@pytest.fixture(scope="module")
def server(service_factory: Callable[..., RunningService]) -> str:
    service = service_factory(demo=False, env={"TRIAL_SCREEN_AUDIT_TOKEN": TOKEN, "TRIAL_SCREEN_REQUIRE_JWT": "false"})
    return service.base_url


@pytest.fixture(scope="module")
def cards(server: str) -> list[dict[str, Any]]:
    issued: list[dict[str, Any]] = []
    with httpx.Client(base_url=server, timeout=10) as client:
        for patient in ("b1", "b2", "b3"):
            response = client.post("/cds-services/trial-prescreen", json=_hook_request(patient))
            assert response.status_code == 200, response.text
            issued += [c for c in response.json()["cards"] if c.get("source", {}).get("topic")]
        assert client.get("/audit/cards").status_code == 401
    trials = {c["source"]["topic"]["code"] for c in issued}
    assert len(trials) >= 2, "need cards of two trials to see the trial filter work"
    return issued


def test_login_filter_open_card(server: str, cards: list[dict[str, Any]], page: Page, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    trial = sorted({c["source"]["topic"]["code"] for c in cards})[-1]
    expected = sum(1 for c in cards if c["source"]["topic"]["code"] == trial)
    screenshot = artifacts_dir / "audit-card.png"
    screenshot.unlink(missing_ok=True)
    page.set_default_timeout(10_000)

    response = page.goto(f"{server}/audit")
    assert response is not None
    assert response.status == 401
    expect(page.get_by_label("Audit token")).to_be_focused()  # keyboard only: type, then Enter
    page.keyboard.type(TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/audit")
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    rows = page.locator("table.cards tbody tr")
    expect(rows).to_have_count(len(cards))

    page.get_by_label("Trial").select_option(trial)
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(f"**/audit?*trial={trial}*")
    expect(rows).to_have_count(expected)
    for cell in rows.locator("td:nth-child(3)").all_inner_texts():
        assert cell.strip() == trial
    expect(page.locator("table.counts tbody th")).to_have_text([trial])
    csv_link = page.get_by_role("link", name="Export these cards as CSV")
    assert f"trial={trial}" in (csv_link.get_attribute("href") or "")

    rows.first.get_by_role("link").click()
    page.wait_for_url("**/audit/cards/*/view")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Card for {trial}")
    expect(page.get_by_role("heading", name="Common to all arms")).to_be_visible()
    criteria = page.locator("tr.criterion")
    assert criteria.count() > 5
    expect(criteria.first.locator(".result")).to_be_visible()
    expect(page.locator("table.criteria caption").first).to_contain_text("Inclusion criteria")

    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.exists()
    assert screenshot.stat().st_size > 10_000
