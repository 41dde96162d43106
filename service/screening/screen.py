"""Screen one patient record against the loaded trials → the contract's report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

from mappings.catalog import Catalog, load_catalog
from service.criteria import Answers, Criterion, CriterionOutcome, Evaluation
from service.facts.patient_facts import PatientFacts
from service.fhir_access.record import PatientRecord
from service.screening.contract import (
    CriterionReport,
    ScreeningReport,
    TrialReport,
    shared,
)
from service.screening.registry import LoadedTrial, bundled_trials_dir, load_trials, trial_files
from service.screening.status import STATUS_BY_RANK, trial_rank


def is_ruled_out(trial: LoadedTrial, evaluation: Evaluation) -> bool:
    """Whether the trial is ineligible, evaluating as few criteria as that takes.

    A group (the common criteria, or one cohort) is ineligible as soon as one of its criteria disqualifies, and
    nothing after that can change it (status.py), so the rest of that group is skipped; the trial is ruled out
    when the common group or every cohort is. The outcomes known from the start (the blank patient's) are read
    first: reading them evaluates nothing, and the criterion that rules a chart out is most often one of them (a
    target disease the chart holds no record of); of those, only the ones that disqualify are read, found once per
    blank (`_BLANK_AGAINST`). Then the others are evaluated in file order. Criteria that were skipped are evaluated
    later if the full report is needed, so the answer always equals the full report's status.
    """
    rollup = trial.rollup
    groups, against = rollup.groups, rollup.against
    disqualified = [False] * (rollup.cohorts + 1)  # per group: the common criteria, then each cohort
    blank = evaluation.blank_outcomes
    if blank is None:
        pending: Iterable[int] = range(len(groups))
    else:
        own = evaluation.own
        for index in _per_blank(_BLANK_AGAINST, blank, lambda: _disqualifying(blank, against)):
            if index not in own and _rules_out(disqualified, groups[index]):
                return True
        pending = own  # file order
    outcome = evaluation.outcome
    for index in pending:
        group = groups[index]
        if not disqualified[group] and outcome(index).result == against[index] and _rules_out(disqualified, group):
            return True
    return False


def _disqualifying(outcomes: list[CriterionOutcome | None], against: tuple[str, ...]) -> tuple[int, ...]:
    """The indices of the outcomes that disqualify their criterion."""
    return tuple(i for i, found in enumerate(outcomes) if found is not None and found.result == against[i])


def _rules_out(disqualified: list[bool], group: int) -> bool:
    """Marks `group` ineligible: whether the trial now is (its common group, or the last of its cohorts)."""
    disqualified[group] = True
    return not group or all(disqualified[1:])


# Report lines without evidence, by (criterion identity, result, missing data): the same for every patient, so
# built once (and their JSON with them, `shared`). A blank patient's outcomes are all such lines, and so are many a
# patient evaluates itself (an exclusion that does not apply, an age in range). The criterion is kept so that its
# id is not reused. Cleared when full.
_PLAIN_LINES: dict[tuple[int, str, tuple[str, ...]], tuple[Criterion, CriterionReport]] = {}


def _line(outcome: CriterionOutcome) -> CriterionReport:
    if outcome.evidence:
        return CriterionReport.of(outcome)
    criterion = outcome.criterion
    key = (id(criterion), outcome.result, outcome.missing)
    found = _PLAIN_LINES.get(key)
    if found is None or found[0] is not criterion:
        if len(_PLAIN_LINES) >= 16384:
            _PLAIN_LINES.clear()
        found = _PLAIN_LINES[key] = (criterion, shared(CriterionReport.of(outcome)))
    return found[1]


_T = TypeVar("_T")
# What screening reads off a blank patient's outcomes (`Evaluation.blank_outcomes`, one list per trial, gaps and day),
# by the list's identity, worked out once per list: its report lines, which a patient's report copies before building
# only the lines of the criteria it evaluated itself (`_BLANK_LINES`), and the indices of the outcomes that disqualify
# (`_BLANK_AGAINST`). The list is kept so that its id is not reused; bounded as the trials' blank evaluations are.
_BLANK_LINES: dict[int, tuple[list[CriterionOutcome | None], list[CriterionReport | None]]] = {}
_BLANK_AGAINST: dict[int, tuple[list[CriterionOutcome | None], tuple[int, ...]]] = {}


def _per_blank(
    cache: dict[int, tuple[list[CriterionOutcome | None], _T]],
    blank: list[CriterionOutcome | None],
    build: Callable[[], _T],
) -> _T:
    """`build()` for `blank`, kept in `cache` by the list's identity; the cache is cleared when full."""
    found = cache.get(id(blank))
    if found is None or found[0] is not blank:
        if len(cache) >= 256:
            cache.clear()
        found = cache[id(blank)] = (blank, build())
    return found[1]


def _blank_lines(blank: list[CriterionOutcome | None]) -> list[CriterionReport | None]:
    return _per_blank(_BLANK_LINES, blank, lambda: [None if o is None else _line(o) for o in blank])


_RESULT = attrgetter("result")  # of an outcome, in C


def trial_report(trial: LoadedTrial, evaluation: Evaluation) -> TrialReport:
    """One trial's report: its criteria in file order, rolled up per cohort and for the trial."""
    definition = trial.compiled.trial
    outcomes = evaluation.all()
    blank = evaluation.blank_outcomes
    if blank is None:
        criteria = tuple(map(_line, outcomes))
    else:
        lines = _blank_lines(blank).copy()
        for i in evaluation.own:
            lines[i] = _line(outcomes[i])
        criteria = tuple(lines)  # type: ignore[arg-type]  # every None was an own criterion's
    common, *cohorts = trial.rollup.group_ranks(list(map(_RESULT, outcomes)))
    return TrialReport(
        id=definition.id,
        title=definition.title,
        registry_id=definition.registry,
        status=STATUS_BY_RANK[trial_rank(common, cohorts)],
        cohorts=tuple([lines[max(common, rank)] for lines, rank in zip(trial.cohort_lines, cohorts, strict=True)]),
        criteria=criteria,
    )


def screening_report(
    record: PatientRecord, evaluated_at: dt.datetime, evaluations: Iterable[tuple[LoadedTrial, Evaluation]]
) -> ScreeningReport:
    """The contract's report of the patient's evaluations (`Screener.evaluations`)."""
    return ScreeningReport(
        patient=record.reference,
        evaluated_at=evaluated_at.isoformat().replace("+00:00", "Z"),
        trials=tuple(trial_report(t, e) for t, e in evaluations),
    )


@dataclass(frozen=True, slots=True)
class Screener:
    """The loaded trials and catalog, ready to screen any number of patients."""

    trials: tuple[LoadedTrial, ...]
    catalog: Catalog

    def versions(self) -> dict[str, str]:
        return {t.id: t.version for t in self.trials}

    def select(self, trial_id: str | None) -> tuple[LoadedTrial, ...]:
        return self.trials if trial_id is None else tuple(t for t in self.trials if t.id == trial_id)

    def screen(
        self,
        record: PatientRecord,
        *,
        on: dt.date | None = None,
        trial_id: str | None = None,
        unreadable: frozenset[str] = frozenset(),
    ) -> ScreeningReport:
        """The whole report. `unreadable`: resource types that could not be read; criteria on them become
        unknown, never met."""
        now = dt.datetime.now(dt.UTC)
        evaluations = self.evaluations(record, on=on or now.date(), trial_id=trial_id, unreadable=unreadable)
        return screening_report(record, now, evaluations)

    def evaluations(
        self,
        record: PatientRecord,
        *,
        on: dt.date,
        trial_id: str | None = None,
        unreadable: frozenset[str] = frozenset(),
    ) -> list[tuple[LoadedTrial, Evaluation]]:
        """Per trial, the patient's evaluation (each criterion evaluated when first read, once): what a report
        reads, and what a population run's counts and rows read (every criterion's outcome) without one."""
        facts = PatientFacts(record, self.catalog, unreadable=unreadable)
        answers: Answers = {}  # shared by the trials' evaluations of this patient and day
        return [(t, t.compiled.start_indexed(facts, on, answers)) for t in self.select(trial_id)]

    def screen_json(
        self, record: PatientRecord, *, on: dt.date | None = None, trial_id: str | None = None
    ) -> dict[str, Any]:
        """The report as the contract's JSON (what `/screening` answers and population runs write)."""
        return self.screen(record, on=on, trial_id=trial_id).to_json()

    def screen_for_cards(
        self, record: PatientRecord, *, on: dt.date | None = None, unreadable: frozenset[str] = frozenset()
    ) -> list[TrialReport]:
        """Reports of the trials the patient may qualify for (the hook's cards): a trial is dropped as soon as
        it is ruled out, without evaluating the rest of it or building its report."""
        day = on or dt.datetime.now(dt.UTC).date()
        evaluations = self.evaluations(record, on=day, unreadable=unreadable)
        return [trial_report(t, e) for t, e in evaluations if not is_ruled_out(t, e)]


def load_screener(trials_dir: Path | None = None) -> Screener:
    """Load and check every trial file once; raises CriteriaError with every problem."""
    catalog = load_catalog()
    directory = trials_dir or bundled_trials_dir()
    return Screener(load_trials(trial_files(directory), catalog), catalog)
