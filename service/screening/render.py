"""The report as text for a person at a terminal: one block per trial, the deciding facts first."""

from __future__ import annotations

from service.screening.report import ScreeningReport, TrialReport

MARKS = {"met": "+", "not-met": "-", "unknown": "?", "manual": "*"}


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
            lines.append(f"   {MARKS[c.result]} {c.kind[:3]} {c.id:<28} {c.result:<8} {text}")
            lines.extend(f"        evidence: {e.display}" for e in c.evidence)
            if c.result == "unknown":
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
