"""The report as text for a person at a terminal: one block per trial, the deciding facts first."""

from __future__ import annotations

from service.screening.contract import (
    CriterionKind,
    CriterionReport,
    CriterionResult,
    ScreeningReport,
    Status,
    TrialReport,
)

MARKS = {
    CriterionResult.MET: "+",
    CriterionResult.NOT_MET: "-",
    CriterionResult.UNKNOWN: "?",
    CriterionResult.MANUAL: "*",
}

# what a deciding criterion's result means, in the words of the report page
_VERDICTS = {
    (CriterionKind.INCLUSION, CriterionResult.NOT_MET): "Not met: ",
    (CriterionKind.EXCLUSION, CriterionResult.MET): "Applies: ",
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
            text = clip(c.text, 90)
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
    """At most `limit` characters, cut at a word boundary (mid-word only for a single over-long word)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]  # one more than kept: a space right after the kept part is a boundary too
    head = cut[: cut.rfind(" ")] if " " in cut[limit // 2 :] else cut[: limit - 1]
    return head.rstrip(" ,;:.-–(") + "…"


def deciding_criteria(trial: TrialReport) -> tuple[CriterionReport, ...]:
    """The criteria that decide the trial's status: for an ineligible trial those that rule the patient out
    (common ones, else each arm's); for a possibly eligible one those still unknown; none for an eligible one."""
    if trial.status is Status.INELIGIBLE:
        common = tuple(c for c in trial.criteria if c.cohort is None and c.is_disqualifying)
        return common or tuple(c for c in trial.criteria if c.is_disqualifying)
    if trial.status is Status.POSSIBLY_ELIGIBLE:
        open_arms = {c.id for c in trial.cohorts if c.status is not Status.INELIGIBLE}
        return tuple(
            c
            for c in trial.criteria
            if c.result is CriterionResult.UNKNOWN and (c.cohort is None or c.cohort in open_arms)
        )
    return ()


def reason(criterion: CriterionReport, trial: TrialReport, limit: int = 80) -> str:
    """One deciding criterion in a line: its (shortened) text, then the evidence or the data that would decide."""
    arm = trial.cohort_title(criterion.cohort)
    verdict = _VERDICTS.get((criterion.kind, criterion.result), "")
    text = clip(f"[{arm}] {verdict}{criterion.text}" if arm else f"{verdict}{criterion.text}", limit)
    if criterion.result is CriterionResult.UNKNOWN:
        return f"{text} (needs: {'; '.join(criterion.missing)})" if criterion.missing else text
    shown = "; ".join(e.display for e in criterion.evidence)
    return f"{text} ({shown})" if shown else text


def render_summary(report: ScreeningReport, most: int = 3) -> str:
    """One line per trial: its status and the criteria that decide it (`screen --format summary`)."""
    width = max((len(t.id) for t in report.trials), default=0)
    lines = []
    for trial in report.trials:
        deciding = deciding_criteria(trial)
        reasons = "; ".join(reason(c, trial) for c in deciding[:most])
        if len(deciding) > most:
            reasons += f"; and {len(deciding) - most} more"
        if trial.status is Status.ELIGIBLE:
            reasons = "every computable criterion met; the trial team checks the manual ones"
        lines.append(f"{trial.id:<{width}}  {trial.status:<17}  {reasons}".rstrip())
    return "\n".join(lines)
