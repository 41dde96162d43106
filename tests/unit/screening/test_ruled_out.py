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
