"""What a population run reads of one patient's screening of one trial: the evaluator's outcomes, not a report.

The feasibility counts and the candidate rows need per trial its status, each arm's status and per criterion its
result, missing data and evidence: all on the evaluator's outcomes, so a report is built only when one is written.
What is the same for every patient (which criteria decide which arm, in what order; the result that disqualifies
each one) is a `TrialPlan`, worked out once per trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, eq
from typing import Protocol

from service.criteria import Evidence
from service.screening.contract import CriterionResult
from service.screening.registry import LoadedTrial
from service.screening.status import STATUS_BY_RANK, Rollup, trial_rank

# Statuses as the rows and counts hold them: plain strings (a Status member hashes in Python code).
RANK_WORDS = tuple(str(status) for status in STATUS_BY_RANK)
POSSIBLY_ELIGIBLE, INELIGIBLE = RANK_WORDS[1:]
_RESULT = attrgetter("result")
_UNKNOWN = str(CriterionResult.UNKNOWN)


class Line(Protocol):
    """A criterion's outcome for one patient: the evaluator's `CriterionOutcome` or a report's `CriterionReport`."""

    @property
    def result(self) -> str: ...
    @property
    def missing(self) -> tuple[str, ...]: ...
    @property
    def evidence(self) -> tuple[Evidence, ...]: ...


class _Criterion(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...


class _Cohort(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...


class Outline(Protocol):
    """What a plan names: a trial's definition, or a report of it (its cohorts and criteria in the same order)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def cohorts(self) -> Sequence[_Cohort]: ...
    @property
    def criteria(self) -> Sequence[_Criterion]: ...


@dataclass(frozen=True, slots=True)
class ArmPlan:
    id: str  # cohort id, or "" for a trial without cohorts
    title: str
    criteria: tuple[int, ...]  # the indices of the criteria that decide it (the common ones and its own), file order
    decides: tuple[bool, ...]  # per criterion of the trial: whether it is one of them


@dataclass(frozen=True, slots=True)
class TrialPlan:
    """One trial's structure as the counts and rows read it, the same for every patient."""

    id: str
    title: str
    arms: tuple[ArmPlan, ...]  # its cohorts, or the trial itself (arm "") when it has none
    ids: tuple[str, ...]  # per criterion, file order
    texts: tuple[str, ...]
    against: tuple[str, ...]  # per criterion, the result that disqualifies it (`Rollup.against`)

    @classmethod
    def of(cls, trial: Outline, rollup: Rollup) -> TrialPlan:
        """From the trial's definition (or a report of it) and its roll-up, which tells each criterion's group."""
        arms = [(c.id, c.title, i) for i, c in enumerate(trial.cohorts, 1)] or [("", "all patients", 0)]
        return cls(
            trial.id,
            trial.title,
            tuple(_arm(ident, title, [g in (0, group) for g in rollup.groups]) for ident, title, group in arms),
            tuple(c.id for c in trial.criteria),
            tuple(c.text for c in trial.criteria),
            rollup.against,
        )


def _arm(ident: str, title: str, decides: list[bool]) -> ArmPlan:
    return ArmPlan(ident, title, tuple(compress(range(len(decides)), decides)), tuple(decides))


class Screened:
    """One patient's answer for one trial: its status, each arm's (in the plan's order), and per criterion its line
    and result. Which criteria are unknown (what the counts and the rows both read) is found once, when first asked."""

    __slots__ = ("_unknown", "arm_statuses", "lines", "plan", "results", "status")

    def __init__(
        self, plan: TrialPlan, status: str, arm_statuses: tuple[str, ...], lines: Sequence[Line], results: list[str]
    ) -> None:
        self.plan = plan
        self.status = status
        self.arm_statuses = arm_statuses
        self.lines = lines
        self.results = results
        self._unknown: list[int] | None = None

    def disqualifying(self) -> list[int]:
        """The indices of the criteria that disqualify the patient, file order."""
        return list(compress(range(len(self.results)), map(eq, self.results, self.plan.against)))

    def unknown(self) -> list[int]:
        """The indices of the criteria that could not be decided, file order."""
        if self._unknown is None:
            self._unknown = list(compress(range(len(self.results)), map(_UNKNOWN.__eq__, self.results)))
        return self._unknown


def from_outcomes(plan: TrialPlan, trial: LoadedTrial, outcomes: Sequence[Line]) -> Screened:
    """The answer from every criterion's outcome, rolled up as a report is (`Rollup.group_ranks`)."""
    results = list(map(_RESULT, outcomes))
    common, *cohorts = trial.rollup.group_ranks(results)
    status = RANK_WORDS[trial_rank(common, cohorts)]
    arm_statuses = tuple([RANK_WORDS[trial_rank(common, [cohort])] for cohort in cohorts]) or (status,)
    return Screened(plan, status, arm_statuses, outcomes, results)


def plans(trials: Sequence[LoadedTrial]) -> tuple[TrialPlan, ...]:
    """The trials' plans, in their order: worked out once per bucket, not per patient."""
    return tuple(TrialPlan.of(t.compiled.trial, t.rollup) for t in trials)
