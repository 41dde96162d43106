"""What a site learns about a trial from its population: counts that add up across partitions.

Per trial and arm: the funnel (how many patients are still in after each criterion, in the order the criteria
read), the criteria that exclude the most, the missing data that leaves the most patients possibly eligible
(what to order or record to decide them), and status counts. Read from each patient's answer per trial
(trial_plan.py): its outcomes, or its report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from service.population.trial_plan import INELIGIBLE, POSSIBLY_ELIGIBLE, ArmPlan, Screened, TrialPlan

STATUSES = ("eligible", "possibly-eligible", "ineligible")


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


@dataclass
class Feasibility:
    trial_titles: dict[str, str] = field(default_factory=dict)
    trial_statuses: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trial, status) → patients
    arms: dict[tuple[str, str], Arm] = field(default_factory=dict)
    patients: int = 0

    def add(self, screened: Screened) -> None:
        """One patient's answer for one trial. An arm is ineligible exactly when one of its criteria disqualifies
        (status.py): those count as its exclusions, the first in its order as the one that excluded first; a
        possibly-eligible arm counts the missing data of its undecided criteria."""
        plan, lines = screened.plan, screened.lines
        self.trial_titles.setdefault(plan.id, plan.title)
        self.trial_statuses[(plan.id, screened.status)] += 1
        disqualifying: list[int] | None = None
        unknown: list[int] | None = None
        for arm_plan, status in zip(plan.arms, screened.arm_statuses, strict=True):
            arm = self.arms.get((plan.id, arm_plan.id)) or self._new_arm(plan, arm_plan)
            arm.statuses[status] += 1
            decides = arm_plan.decides
            if status == INELIGIBLE:
                if disqualifying is None:
                    disqualifying = screened.disqualifying()
                excluded = [plan.ids[i] for i in disqualifying if decides[i]]
                arm.first_exclusion[excluded[0]] += 1
                arm.excluded_by.update(excluded)
            elif status == POSSIBLY_ELIGIBLE:
                if unknown is None:
                    unknown = screened.unknown()
                arm.missing.update({m for i in unknown if decides[i] for m in lines[i].missing})

    def _new_arm(self, plan: TrialPlan, arm_plan: ArmPlan) -> Arm:
        order = [(plan.ids[i], plan.texts[i]) for i in arm_plan.criteria]
        arm = self.arms[(plan.id, arm_plan.id)] = Arm(plan.id, arm_plan.id, arm_plan.title, order)
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
