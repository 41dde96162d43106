"""What a clinician and an integrator see, in a real browser: the demo chart of three demo patients (units as
people write them, criterion text cut between words, the reason a patient gets no card), the full report page,
and Swagger UI at /docs with every request off this service refused. Screenshots go to artifacts/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from .conftest import RunningService

pytestmark = pytest.mark.browser

PATIENTS = {
    "demo-sle-eligible": "Okafor, Adaeze",  # carded for four trials
    "demo-sle-missing-labs": "Miller, Jennifer",  # possibly eligible: labs still needed
    "demo-sle-pregnant": "Ahmed, Fatima",  # ruled out of every trial
}
RAW_UCUM = ("10*3/uL", "10*9/L", "[IU]", "{score}", "{INR}")


def _open(page: Page, service: RunningService, key: str) -> None:
    page.goto(f"{service.base_url}/demo")
    page.get_by_role("button", name=re.compile(re.escape(PATIENTS[key]))).click()
    expect(page.get_by_role("status").first).to_contain_text("returned", timeout=15_000)


def _criterion_texts(page: Page, report_url: str) -> list[str]:
    page.goto(report_url)
    return [t.strip() for t in page.locator("tr.criterion .text").all_inner_texts()]


@pytest.mark.parametrize("key", list(PATIENTS))
def test_the_demo_chart_reads_as_people_write(
    page: Page, demo_service: RunningService, artifacts_dir: Path, key: str
) -> None:
    _open(page, demo_service, key)
    page.wait_for_load_state("networkidle")
    shot = artifacts_dir / f"demo-chart-{key}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    chart = page.locator("#main").inner_text()
    for raw in RAW_UCUM:
        assert raw not in page.locator("#cards").inner_text(), raw
    if key == "demo-sle-eligible":
        assert "× 10⁹/L" in chart
        assert "**Trial team:**" not in chart  # markdown rendered
        assert "Trial team:" in chart
    if key == "demo-sle-pregnant":
        expect(page.locator("#ruled-out")).to_be_visible()
        reasons = page.locator("#ruled-out .reason").all_inner_texts()
        assert any("Pregnancy test (hCG) positive" in r for r in reasons), reasons
        assert page.locator("#ruled-out .ruled-out-trial").count() == 5


def test_criterion_text_on_cards_is_cut_between_words(page: Page, demo_service: RunningService) -> None:
    _open(page, demo_service, "demo-sle-eligible")
    clipped = []
    for card in page.locator("article.card").all():
        for item in card.locator(".card-detail li").all_inner_texts():
            label = re.sub(r"^\[[^\]]+\] ", "", item.split(" (")[0] if "… (" in item else item)
            if "…" in label:
                clipped.append(label[: label.index("…")])
    assert clipped, "some criterion texts are long enough to be shortened"
    report_url = page.get_by_role("link", name="Full pre-screening report").first.get_attribute("href")
    assert report_url
    texts = _criterion_texts(page, report_url)
    checked = 0
    for kept in clipped:
        full = next((t for t in texts if t.startswith(kept) and len(t) > len(kept)), None)
        if full is None:  # a criterion of another card's trial (the report page shows one trial)
            continue
        assert not full[len(kept)].isalnum(), (kept, full)
        checked += 1
    assert checked


def test_the_chart_comes_into_view_for_a_patient_low_in_the_list(
    browser: Browser, demo_service: RunningService
) -> None:
    context = browser.new_context(viewport={"width": 700, "height": 600})
    page = context.new_page()
    try:
        page.goto(f"{demo_service.base_url}/demo")
        last = page.locator("button.patient").last
        last.scroll_into_view_if_needed()
        last.click()
        expect(page.get_by_role("status").first).to_contain_text("returned", timeout=15_000)
        top = page.evaluate("document.getElementById('chart-heading').getBoundingClientRect().top")
        assert 0 <= top < 600
    finally:
        context.close()


def test_the_report_page_says_each_result_once(page: Page, demo_service: RunningService, artifacts_dir: Path) -> None:
    _open(page, demo_service, "demo-sle-eligible")
    report_url = page.get_by_role("link", name="Full pre-screening report").first.get_attribute("href")
    assert report_url
    page.goto(report_url)
    expect(page.locator("tr.criterion").first).to_be_visible()
    shot = artifacts_dir / "report-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    text = page.locator("body").inner_text()
    assert "Met (met)" not in text
    assert "(manual)" not in text
    assert "× 10⁹/L" in text


def test_swagger_ui_renders_with_no_network(
    browser: Browser, demo_service: RunningService, artifacts_dir: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    refused: list[str] = []

    def only_this_service(route: Route) -> None:
        if route.request.url.startswith(demo_service.base_url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_service)
    page = context.new_page()
    try:
        page.goto(f"{demo_service.base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("trial-screen", timeout=15_000)
        expect(page.locator(".opblock").first).to_be_visible()
        assert page.locator(".opblock").count() >= 5
        shot = artifacts_dir / "api-docs.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    finally:
        context.close()
    assert refused == [], refused


def test_serve_demo_prints_the_audit_token_that_opens_the_trail(demo_service: RunningService) -> None:
    import httpx

    assert "Audit database: " in demo_service.log()
    match = re.search(r"sign in with the token (\S+) \(made for this run\)", demo_service.log())
    assert match, demo_service.log()
    headers = {"Authorization": f"Bearer {match.group(1)}"}
    assert httpx.get(f"{demo_service.base_url}/audit/cards", headers=headers, timeout=10).status_code == 200


def test_a_service_started_with_a_site_file_shows_its_team_page_and_recipient(
    page: Page, service_factory: Callable[..., RunningService], tmp_path: Path
) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        "trials:\n"
        "  uwd-cd19-aid:\n"
        "    recruiting: true\n"
        '    contact: {name: "Dr Ada Rivera, CAR-T unit", phone: "+1 555 0199"}\n'
        '    referral_recipient: {reference: "Organization/our-cart-unit", display: "Our CAR-T unit"}\n'
        "    url: https://hospital.example/trials/uwd-cd19\n"
        '    url_label: "UWD-CD19 at our hospital"\n'
        "  cd19-cart-active-sle: {recruiting: false}\n",
        encoding="utf-8",
    )
    service = service_factory(demo=True, env={"TRIAL_SCREEN_SITES_FILE": str(sites)})
    with page.expect_response(lambda r: r.url.endswith("/cds-services/trial-prescreen")) as answered:
        _open(page, service, "demo-sle-eligible")
    cards = {c["source"]["topic"]["code"]: c for c in answered.value.json()["cards"]}
    assert "cd19-cart-active-sle" not in cards  # not recruiting: no card
    card = page.locator("article.card", has_text="UWD-CD19")
    expect(card).to_contain_text("Trial team: Dr Ada Rivera, CAR-T unit (+1 555 0199)")
    expect(card.get_by_role("link", name="UWD-CD19 at our hospital")).to_have_attribute(
        "href", "https://hospital.example/trials/uwd-cd19"
    )
    expect(card.get_by_role("button", name="Refer to the trial team: Our CAR-T unit")).to_be_visible()
    referral = cards["uwd-cd19-aid"]["suggestions"][0]["actions"][0]["resource"]
    assert referral["performer"] == [{"reference": "Organization/our-cart-unit", "display": "Our CAR-T unit"}]
