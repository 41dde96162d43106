"""What a site learns about a trial from its population: counts that add up across partitions.

Per trial and arm: the funnel (how many patients are still in after each criterion, in the order the criteria
read), the criteria that exclude the most, the missing data that leaves the most patients possibly eligible
(what to order or record to decide them), and status counts. Read from the contract's trial reports only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from service.criteria import Trial
from service.population.candidates import arm_criteria, arms
from service.screening.contract import CriterionResult, Status, TrialReport, is_disqualifying

STATUSES = ("eligible", "possibly-eligible", "ineligible")
_UNKNOWN = CriterionResult.UNKNOWN


@dataclass
class Arm:
    trial: str
    arm: str  # cohort id, or "" for a trial without cohorts
    title: str
    criteria: list[tuple[str, str]]  # (id, text) in the trial's order
    statuses: Counter[str] = field(default_factory=Counter)
    first_exclusion: Counter[str] = field(default_factory=Counter)  # criterion id → patients it excluded first
    excluded_by: Counter[str] = field(default_factory=Counter)  # criterion id → patients it excludes at all
    missing: Counter[str] = field(default_factory=Counter)  # item → possibly-eligible patients who lack it
    position: dict[str, int] = field(init=False, repr=False)  # criterion id → its place in `criteria`

    def __post_init__(self) -> None:
        self.position = {ident: i for i, (ident, _) in enumerate(self.criteria)}

    def in_order(self, ids: Collection[str]) -> list[str]:
        """The criteria of `ids` that decide this arm, in its order."""
        position = self.position
        return sorted([i for i in ids if i in position], key=position.__getitem__)

    def funnel(self) -> list[tuple[str, int]]:
        """(criterion id, patients still in after it), in order; starts from every patient screened."""
        left = sum(self.statuses.values())
        steps = []
        for ident, _ in self.criteria:
            left -= self.first_exclusion[ident]
            steps.append((ident, left))
        return steps

    def merge(self, other: Arm) -> None:
        self.statuses.update(other.statuses)
        self.first_exclusion.update(other.first_exclusion)
        self.excluded_by.update(other.excluded_by)
        self.missing.update(other.missing)


def _results(trial: TrialReport) -> tuple[list[str], list[tuple[str | None, tuple[str, ...]]]]:
    """(The ids of the criteria that disqualify, (cohort, missing items) of each unknown one): what the counts
    read of a report, in one pass over its criteria for every arm."""
    excluding = []
    unknown = []
    for line in trial.criteria:
        result = line.result
        if result is _UNKNOWN:
            unknown.append((line.cohort, line.missing))
        elif is_disqualifying(line.kind, result):
            excluding.append(line.id)
    return excluding, unknown


@dataclass
class Feasibility:
    trial_titles: dict[str, str] = field(default_factory=dict)
    trial_statuses: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trial, status) → patients
    arms: dict[tuple[str, str], Arm] = field(default_factory=dict)
    patients: int = 0

    def add_report(self, trial: TrialReport) -> None:
        """One patient's result for one trial: its report."""
        excluding, unknown = _results(trial)
        self._add(trial, str(trial.status), arms(trial), excluding, unknown)

    def add_ruled_out(self, trial: Trial, excluding: Collection[str]) -> None:
        """One patient ruled out of `trial` without a report: every status ineligible; `excluding`, the ids of the
        criteria that disqualify them (what the counts need of such a patient)."""
        ineligible = Status.INELIGIBLE.value
        self._add(trial, ineligible, [(c.id, ineligible) for c in trial.cohorts] or [("", ineligible)], excluding, [])

    def _add(
        self,
        trial: Trial | TrialReport,
        status: str,
        arm_statuses: list[tuple[str, str]],
        excluding: Collection[str],
        unknown: list[tuple[str | None, tuple[str, ...]]],  # (cohort, missing items) of each unknown criterion
    ) -> None:
        self.trial_titles.setdefault(trial.id, trial.title)
        self.trial_statuses[(trial.id, status)] += 1
        for arm_id, arm_status in arm_statuses:
            arm = self.arms.get((trial.id, arm_id)) or self._new_arm(trial, arm_id)
            arm.statuses[arm_status] += 1
            excluded = arm.in_order(excluding) if excluding else []
            if excluded:
                arm.first_exclusion[excluded[0]] += 1
                arm.excluded_by.update(excluded)
            elif arm_status == "possibly-eligible" and unknown:
                mine = (None, arm_id or None)
                arm.missing.update({m for cohort, missing in unknown if cohort in mine for m in missing})

    def _new_arm(self, trial: Trial | TrialReport, arm_id: str) -> Arm:
        titles = {c.id: c.title for c in trial.cohorts}
        order = [(c.id, c.text) for c in arm_criteria(trial, (arm_id,))[arm_id]]
        arm = self.arms[(trial.id, arm_id)] = Arm(trial.id, arm_id, titles.get(arm_id, "all patients"), order)
        return arm

    def merge(self, other: Feasibility) -> None:
        self.patients += other.patients
        for trial, title in other.trial_titles.items():
            self.trial_titles.setdefault(trial, title)
        self.trial_statuses.update(other.trial_statuses)
        for key, arm in other.arms.items():
            if key in self.arms:
                self.arms[key].merge(arm)
            else:
                self.arms[key] = arm
