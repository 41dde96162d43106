"""Build a scenario's patient (the demo builder's YAML shorthand), screen it, and compare with what it expects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mappings.catalog import load_catalog
from service.demo.builder import build_resources, collection_bundle
from service.fhir_access.bundle import record_from_bundle
from service.screening.contract import TrialReport
from service.screening.registry import LoadedTrial
from service.screening.screen import Screener


def load_scenario(path: Path) -> tuple[dict[str, Any], dt.date]:
    """The scenario and its evaluation date (YAML 1.1 reads a bare `on:` key as true)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    when = spec["on"] if "on" in spec else spec[True]
    return spec, when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when))


def screen_scenario(path: Path, trials: Iterable[LoadedTrial]) -> dict[str, TrialReport]:
    spec, on = load_scenario(path)
    record = record_from_bundle(collection_bundle(build_resources(path.stem, spec, on)))
    report = Screener(tuple(trials), load_catalog()).screen(record, on=on)
    return {t.id: t for t in report.trials}


def check_expected(report: TrialReport, expected: Mapping[str, Any], description: str) -> None:
    """Assert the trial status, cohort statuses and criterion results the scenario names (any subset)."""
    explanation = _explain(report, description)
    if "status" in expected:
        assert report.status == expected["status"], explanation
    cohorts = {c.id: c.status for c in report.cohorts}
    for cohort, status in (expected.get("cohorts") or {}).items():
        assert cohorts[cohort] == status, f"cohort {cohort}\n{explanation}"
    results = {c.id: c.result for c in report.criteria}
    for criterion, result in (expected.get("criteria") or {}).items():
        assert criterion in results, f"no criterion {criterion!r} in {report.id}\n{explanation}"
        assert results[criterion] == result, f"criterion {criterion}\n{explanation}"


def _explain(report: TrialReport, description: str) -> str:
    lines = [f"scenario: {description}", f"trial {report.id} status: {report.status}"]
    lines += [f"  cohort {c.id}: {c.status}" for c in report.cohorts]
    for c in report.criteria:
        detail = "; ".join(c.missing) or "; ".join(e.display for e in c.evidence)
        lines.append(f"  [{c.cohort or 'common'}] {c.kind} {c.id}: {c.result}  {detail}")
    return "\n".join(lines)
