"""Feasibility counts from trial reports (through their plan): the funnel follows the criteria order and adds up
across partitions."""

from __future__ import annotations

from service.criteria import CriterionKind
from service.population.feasibility import Feasibility
from service.population.trial_plan import TrialPlan
from service.screening.contract import CohortReport, CriterionReport, CriterionResult, Status, TrialReport
from service.screening.status import Rollup
from tests.unit.population.report_answers import from_report


def _criterion(
    ident: str, kind: str, result: str, cohort: str | None = None, missing: tuple[str, ...] = ()
) -> CriterionReport:
    return CriterionReport(ident, cohort, CriterionKind(kind), ident, CriterionResult(result), (), missing)


def _report(age: str, anc: str, pregnant: str, cohort_status: str) -> list[TrialReport]:
    return [
        TrialReport(
            id="t",
            title="Trial",
            registry_id=None,
            status=Status(cohort_status),
            cohorts=(CohortReport("sle", "SLE", Status(cohort_status)),),
            criteria=(
                _criterion("age", "inclusion", age),
                _criterion("anc", "inclusion", anc, "sle", ("ANC within 28 days",) if anc == "unknown" else ()),
                _criterion("pregnant", "exclusion", pregnant),
            ),
        )
    ]


def _add(feasibility: Feasibility, reports: list[TrialReport]) -> None:
    """One patient's reports, as a bucket counts them."""
    feasibility.patients += 1
    for report in reports:
        plan = TrialPlan.of(report, Rollup.of_trial(report))  # type: ignore[arg-type]  # a report has a trial's shape
        feasibility.add(from_report(plan, report))


def test_funnel_exclusions_and_missing_data() -> None:
    first, second = Feasibility(), Feasibility()
    _add(first, _report("met", "met", "not-met", "eligible"))
    _add(first, _report("not-met", "unknown", "met", "ineligible"))  # age excludes first; pregnancy excludes too
    _add(second, _report("met", "unknown", "not-met", "possibly-eligible"))
    _add(second, _report("met", "not-met", "unknown", "ineligible"))
    first.merge(second)
    arm = first.arms[("t", "sle")]
    assert first.patients == 4
    assert arm.funnel() == [("age", 3), ("anc", 2), ("pregnant", 2)]
    assert arm.excluded_by == {"age": 1, "pregnant": 1, "anc": 1}
    assert arm.missing == {"ANC within 28 days": 1}  # only the possibly-eligible patient's gaps
    assert first.trial_statuses == {("t", "eligible"): 1, ("t", "ineligible"): 2, ("t", "possibly-eligible"): 1}


def test_a_chart_is_what_plotly_writes_with_the_template_set_on_the_figure() -> None:
    """The page builds figure JSON without plotly's graph objects: the same markup, and figure JSON of the same
    value (the shipped template's keys come in another order than plotly's validated copy)."""
    import json
    import re

    import plotly.graph_objects as go

    from service.population.feasibility_page import _figure_html

    plain = go.Figure(go.Bar(y=["age", "anc"], x=[3, 1], orientation="h"), layout={"title": "Criteria"})
    plain.update_layout(height=200, margin={"l": 20, "r": 20, "t": 40, "b": 20}, template="plotly_white")
    config = {"displaylogo": False, "responsive": True}
    expected = f'<div class="chart">{plain.to_html(full_html=False, include_plotlyjs=False, config=config)}</div>'
    trace = {"type": "bar", "y": ["age", "anc"], "x": [3, 1], "orientation": "h"}
    written = _figure_html([trace], {"title": {"text": "Criteria"}}, 200)

    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    figure = re.compile(r'(Plotly\.newPlot\(\s*"ID",\s*)(\[.*?\]),\s*(\{.*?\}),(\s*\{"displaylogo)', re.S)

    def parts(page: str) -> tuple[str, list[object]]:
        found = figure.search(uuid.sub("ID", page))
        assert found is not None
        markup = figure.sub(r"\1FIGURE\4", uuid.sub("ID", page))
        return markup, [json.loads(found.group(2)), json.loads(found.group(3))]

    assert parts(written) == parts(expected)


def test_ties_are_charted_in_one_order_whatever_order_the_counts_came_in() -> None:
    """Counts that tie come in set order (the hash seed) and partition-merge order: the charts must not follow it."""
    from service.population.feasibility import Arm
    from service.population.feasibility_page import _excluders_chart, _missing_chart

    def arm(missing: list[str], excluded: list[str]) -> Arm:
        made = Arm("t", "", "all patients", [("age", "age"), ("anc", "anc"), ("pregnant", "pregnant")])
        made.missing.update(missing)
        made.excluded_by.update(excluded)
        return made

    def figure(chart: str) -> str:  # the chart without its random div id
        return chart.split("Plotly.newPlot(")[1].split(",", 1)[1].replace(" ", "")

    one = arm(["ANC within 28 days", "Age"], ["pregnant", "anc"])
    other = arm(["Age", "ANC within 28 days"], ["anc", "pregnant"])
    assert figure(_missing_chart(one)) == figure(_missing_chart(other))
    assert figure(_excluders_chart([one])) == figure(_excluders_chart([other]))
    assert '"y":["anc","pregnant"]' in figure(_excluders_chart([other]))  # the criteria's order
