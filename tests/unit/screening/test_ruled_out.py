"""A chart without a trial's target disease is ruled out from the blank patient's outcomes, evaluating nothing."""

from __future__ import annotations

import datetime as dt

from bench.patients import patient_resources
from service.facts.patient_facts import PatientFacts
from service.fhir_access.bundle import record_from_resources
from service.screening.screen import is_ruled_out, load_screener, trial_report

ON = dt.date(2026, 11, 23)


def test_a_chart_without_the_target_disease_is_ruled_out_before_any_criterion_is_evaluated() -> None:
    screener = load_screener()
    resources = patient_resources(150, seed=3, on=ON, target_disease=False)
    facts = PatientFacts(record_from_resources(resources[0], resources[1:]), screener.catalog)
    for trial in screener.trials:
        evaluation = trial.compiled.start_indexed(facts, ON)
        pending = evaluation.so_far.count(None)
        assert pending  # the patient's own criteria (age at least) wait to be evaluated
        assert is_ruled_out(trial, evaluation), trial.id
        assert evaluation.so_far.count(None) == pending, trial.id
        assert trial_report(trial, evaluation).status == "ineligible", trial.id


def test_ruled_out_is_the_full_reports_ineligible_status_with_or_without_the_blank_patient() -> None:
    """Charts with and without a target disease, each trial evaluated both ways: the plain walk (no blank outcomes)
    and the plan (the blank patient's disqualifying outcomes read first)."""
    screener = load_screener()
    for seed, target in ((1, True), (2, True), (3, False), (4, True)):
        resources = patient_resources(150, seed=seed, on=ON, target_disease=target)
        record = record_from_resources(resources[0], resources[1:])
        facts = PatientFacts(record, screener.catalog)
        for trial in screener.trials:
            expected = trial_report(trial, trial.compiled.start(facts, ON)).status == "ineligible"
            assert is_ruled_out(trial, trial.compiled.start(facts, ON)) is expected, (seed, trial.id)
            assert is_ruled_out(trial, trial.compiled.start_indexed(facts, ON)) is expected, (seed, trial.id)
