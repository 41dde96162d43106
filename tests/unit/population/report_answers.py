"""A population answer read off a trial's report: the reference the outcome path (`trial_plan.from_outcomes`) is
checked against, and a short way to count hand-written reports."""

from __future__ import annotations

from service.population.trial_plan import Screened, TrialPlan
from service.screening.contract import TrialReport


def from_report(plan: TrialPlan, report: TrialReport) -> Screened:
    status = str(report.status)
    arm_statuses = tuple([str(c.status) for c in report.cohorts]) or (status,)
    return Screened(plan, status, arm_statuses, report.criteria, [line.result for line in report.criteria])
