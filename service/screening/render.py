"""The report as text for a person at a terminal: one block per trial, the deciding facts first."""

from __future__ import annotations

from service.screening.contract import CriterionResult, ScreeningReport, Status, TrialReport

MARKS = {
    CriterionResult.MET: "+",
    CriterionResult.NOT_MET: "-",
    CriterionResult.UNKNOWN: "?",
    CriterionResult.MANUAL: "*",
}


def _trial_block(trial: TrialReport) -> list[str]:
    registry = f"  [{trial.registry_id}]" if trial.registry_id else ""
    lines = [f"== {trial.id}: {trial.status.upper()}{registry}", f"   {trial.title}"]
    for cohort in trial.cohorts:
        lines.append(f"   arm {cohort.id:<22} {cohort.status}")
    groups = [("common", None)] + [(f"arm {c.id}", c.id) for c in trial.cohorts]
    for label, cohort_id in groups:
        criteria = [c for c in trial.criteria if c.cohort == cohort_id]
        if not criteria:
            continue
        lines.append(f"   -- {label}")
        for c in criteria:
            text = c.text if len(c.text) <= 90 else c.text[:89] + "…"
            lines.append(f"   {MARKS[c.result]} {c.kind.value[:3]} {c.id:<28} {c.result:<8} {text}")
            lines.extend(f"        evidence: {e.display}" for e in c.evidence)
            if c.result is CriterionResult.UNKNOWN:
                lines.extend(f"        missing:  {m}" for m in c.missing)
    return lines


def render_text(report: ScreeningReport) -> str:
    lines = [
        f"Patient {report.patient}, evaluated {report.evaluated_at}",
        "Legend: + met  - not met  ? unknown  * manual",
        "",
    ]
    for trial in report.trials:
        lines.extend(_trial_block(trial))
        lines.append("")
    return "\n".join(lines)


def headline(trial: TrialReport, short_name: str, limit: int = 139) -> str:
    """Read in two seconds (a card's summary): the verdict, the trial's short name, the arm(s) still open."""
    eligible = trial.status is Status.ELIGIBLE
    verdict = "Eligible" if eligible else "Possibly eligible"
    arms = [
        c for c in trial.cohorts if (c.status is Status.ELIGIBLE if eligible else c.status is not Status.INELIGIBLE)
    ]
    head = f"{verdict} for CAR-T trial: {short_name}"
    for arm_text in (", ".join(c.title for c in arms), ", ".join(c.id.upper() for c in arms)):
        text = f"{head} ({arm_text})" if arm_text else head
        if len(text) <= limit:
            return text
    return clip(text, limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
