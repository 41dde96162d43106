"""What a site learns about a trial from its population: counts that add up across partitions.

Per trial and arm: the funnel (how many patients are still in after each criterion, in the order the criteria
read), the criteria that exclude the most, the missing data that leaves the most patients possibly eligible
(what to order or record to decide them), and status counts. Read from the contract's report JSON only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.population.candidates import arm_criteria, arms

STATUSES = ("eligible", "possibly-eligible", "ineligible")


def is_disqualifying(criterion: Mapping[str, Any]) -> bool:
    """An inclusion that fails or an exclusion that applies (contract.md): the arm is ineligible."""
    wanted = "not-met" if criterion["kind"] == "inclusion" else "met"
    return bool(criterion["result"] == wanted)


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

    def in_order(self, ids: frozenset[str]) -> list[str]:
        """The criteria of `ids` that decide this arm, in its order."""
        position = self.position
        return sorted((i for i in ids if i in position), key=position.__getitem__)

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


def _results(trial: Mapping[str, Any]) -> tuple[frozenset[str], list[tuple[str | None, list[str]]]]:
    """(The ids of the criteria that disqualify, (cohort, missing items) of each unknown one): what the counts
    read of a report, in one pass over its criteria for every arm."""
    excluding = []
    unknown = []
    for criterion in trial["criteria"]:
        result = criterion["result"]
        if result == "unknown":
            unknown.append((criterion.get("cohort"), criterion["missing"]))
        elif is_disqualifying(criterion):
            excluding.append(criterion["id"])
    return frozenset(excluding), unknown


@dataclass
class Feasibility:
    trial_titles: dict[str, str] = field(default_factory=dict)
    trial_statuses: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trial, status) → patients
    arms: dict[tuple[str, str], Arm] = field(default_factory=dict)
    patients: int = 0

    def add(self, report: Mapping[str, Any]) -> None:
        self.patients += 1
        for trial in report["trials"]:
            self.add_trial(trial)

    def add_trial(self, trial: Mapping[str, Any], excluding: frozenset[str] | None = None) -> None:
        """One patient's result for one trial: its report JSON; or, when the patient was ruled out of the trial
        without a report, its outline (the report's shape without results, every status ineligible) and
        `excluding`, the ids of the criteria that disqualify them (what the counts need of such a patient)."""
        self.trial_titles.setdefault(trial["id"], trial["title"])
        self.trial_statuses[(trial["id"], trial["status"])] += 1
        unknown: list[tuple[str | None, list[str]]] = []  # (cohort, missing items) of each unknown criterion
        if excluding is None:
            excluding, unknown = _results(trial)
        for arm_id, status in arms(trial):
            arm = self.arms.get((trial["id"], arm_id)) or self._new_arm(trial, arm_id)
            arm.statuses[status] += 1
            excluded = arm.in_order(excluding) if excluding else []
            if excluded:
                arm.first_exclusion[excluded[0]] += 1
                arm.excluded_by.update(excluded)
            elif status == "possibly-eligible" and unknown:
                mine = (None, arm_id or None)
                arm.missing.update({m for cohort, missing in unknown if cohort in mine for m in missing})

    def _new_arm(self, trial: Mapping[str, Any], arm_id: str) -> Arm:
        titles = {c["id"]: c["title"] for c in trial.get("cohorts") or []}
        order = [(c["id"], c["text"]) for c in arm_criteria(trial, (arm_id,))[arm_id]]
        arm = self.arms[(trial["id"], arm_id)] = Arm(trial["id"], arm_id, titles.get(arm_id, "all patients"), order)
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
