"""The feasibility report in headless chromium, offline: every chart renders, nothing is fetched from a network."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from bench.bulk_exports import write_demo_export
from service.demo.patients import demo_dir
from service.population.execution import InProcess
from service.population.feasibility_page import render_feasibility
from service.population.run import Outputs, screen_population

pytestmark = pytest.mark.browser

ON = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """(the page, how many patients): every demo patient screened as a small population."""
    folder = tmp_path_factory.mktemp("feasibility")
    keys = tuple(sorted(path.stem for path in demo_dir().glob("*.yaml")))
    write_demo_export(folder / "export", keys, ON)
    outputs = Outputs(rejects=str(folder / "rejects.ndjson"))
    summary = screen_population(
        str(folder / "export"), outputs, InProcess(None), work=str(folder / "work"), on=ON.isoformat()
    )
    page = folder / "feasibility.html"
    page.write_text(render_feasibility(summary.feasibility, title="Feasibility", subtitle="demo"), encoding="utf-8")
    return page, summary.patients


def test_every_chart_renders_offline(page: Page, report: tuple[Path, int], artifacts_dir: Path) -> None:
    path, patients = report
    requested: list[str] = []

    def refuse(route: Route) -> None:
        requested.append(route.request.url)
        route.abort()

    page.route("http*://**/*", refuse)
    page.goto(path.as_uri())
    charts = page.locator(".plotly-graph-div")
    expect(charts.first.locator("svg.main-svg").first).to_be_visible(timeout=30_000)
    count = charts.count()
    assert count >= 5 * 3  # per trial: statuses and exclusions; per arm: a funnel (and missing data)
    for index in range(count):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        expect(chart.locator("svg.main-svg").first).to_be_visible()
        assert chart.locator(".trace").count() >= 1, f"chart {index} has no data drawn"
    expect(page.get_by_text("all screened").first).to_be_attached()
    expect(page.locator(".gtitle", has_text="Funnel").first).to_be_attached()
    first_funnel_top = page.locator(".funnellayer text.bartext").first
    expect(first_funnel_top).to_have_text(str(patients))
    assert requested == []
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts_dir / "feasibility-report.png"))
