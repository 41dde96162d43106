"""The demo page in a real browser: pick a demo patient, see its cards as an EHR renders them, give feedback."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import RunningService

pytestmark = pytest.mark.browser

ELIGIBLE = "Okafor, Adaeze"  # demo-sle-eligible: four cards
NO_CARDS = "Ahmed, Fatima"  # demo-sle-pregnant: ineligible for every trial


def _open_patient(page: Page, service: RunningService, name: str) -> None:
    page.goto(f"{service.base_url}/demo")
    expect(page.get_by_role("heading", name="Demo patients")).to_be_visible()
    page.get_by_role("button", name=re.compile(re.escape(name))).click()


def test_demo_page_shows_the_cards_of_a_demo_patient(
    page: Page, demo_service: RunningService, artifacts_dir: Path
) -> None:
    _open_patient(page, demo_service, ELIGIBLE)
    summaries = page.locator("article.card .card-summary")
    expect(summaries.first).to_be_visible(timeout=15_000)
    expect(page.get_by_role("status").first).to_contain_text("returned")
    assert summaries.count() >= 1
    expect(summaries.first).to_contain_text(re.compile(r"(Possibly e|E)ligible for CAR-T trial"))

    first = page.locator("article.card").first
    expect(first.locator(".indicator")).to_have_text("info")
    expect(first.locator(".card-detail strong").first).to_be_visible()  # markdown rendered, not shown raw
    assert "**" not in first.locator(".card-detail").inner_text()
    expect(first.locator(".card-detail li").first).to_be_visible()
    expect(first.locator(".card-source")).to_contain_text("trial-screen")
    report = first.get_by_role("link", name="Full pre-screening report")
    href = report.get_attribute("href")
    assert href
    assert re.search(r"/reports/[0-9a-f-]{36}\?sig=[0-9a-f]{32}$", href)

    screenshot = artifacts_dir / "demo-cards.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 10_000

    assert httpx.get(href, timeout=10).status_code == 200  # the report link opens the full report


def test_referral_suggestion_posts_accepted_feedback(page: Page, demo_service: RunningService) -> None:
    _open_patient(page, demo_service, ELIGIBLE)
    card = page.locator("article.card").first
    expect(card).to_be_visible(timeout=15_000)
    with page.expect_response(lambda r: r.url.endswith("/cds-services/trial-prescreen/feedback")) as response:
        card.get_by_role("button", name=re.compile("^Refer to the trial team")).click()
    assert response.value.status == 200
    assert response.value.request.post_data_json["feedback"][0]["outcome"] == "accepted"
    expect(card.get_by_text("Referral drafted")).to_be_visible()


def test_override_dropdown_posts_overridden_feedback(page: Page, demo_service: RunningService) -> None:
    _open_patient(page, demo_service, ELIGIBLE)
    card = page.locator("article.card").nth(1)
    expect(card).to_be_visible(timeout=15_000)
    card.get_by_label("Dismiss this card").select_option(label="Patient not interested")
    with page.expect_response(lambda r: r.url.endswith("/cds-services/trial-prescreen/feedback")) as response:
        card.get_by_role("button", name="Dismiss").click()
    assert response.value.status == 200
    sent = response.value.request.post_data_json["feedback"][0]
    assert sent["outcome"] == "overridden"
    assert sent["overrideReason"]["reason"]["code"] == "patient-declined"
    expect(card.get_by_text("Dismissed: Patient not interested")).to_be_visible()


def test_a_patient_without_cards_says_so(page: Page, demo_service: RunningService) -> None:
    _open_patient(page, demo_service, NO_CARDS)
    expect(page.get_by_text("No trial cards")).to_be_visible(timeout=15_000)
    assert page.locator("article.card").count() == 0


def test_markdown_renderer_escapes_html(page: Page, demo_service: RunningService) -> None:
    page.goto(f"{demo_service.base_url}/demo")
    html = page.evaluate(
        "window.trialScreenDemo.renderMarkdown("
        "'<img src=x onerror=alert(1)> **bold** *it*\\n\\n"
        "- [ok](https://example.org/a_b)\\n- [bad](javascript:alert(1))')"
    )
    assert "<img" not in html
    assert "javascript:" not in html
    assert "&lt;img" in html
    assert "<strong>bold</strong>" in html
    assert "<em>it</em>" in html
    assert '<a href="https://example.org/a_b"' in html
    assert html.count("<li>") == 2
