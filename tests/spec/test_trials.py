"""Every scenario under tests/spec/trials/<trial-id>/*.yaml screens to its expected statuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappings.catalog import load_catalog
from service.demo.builder import build_resources, collection_bundle
from service.fhir_access.bundle import record_from_bundle
from service.screening.contract import TrialReport
from service.screening.registry import LoadedTrial
from service.screening.screen import Screener

SCENARIOS = Path(__file__).parent / "trials"
CASES = sorted(SCENARIOS.glob("*/*.yaml"))


def _explain(report: TrialReport, spec: dict[str, Any]) -> str:
    lines = [f"scenario: {spec.get('description', '')}", f"trial status: {report.status}"]
    lines += [f"  cohort {c.id}: {c.status}" for c in report.cohorts]
    for c in report.criteria:
        detail = "; ".join(c.missing) or "; ".join(e.display for e in c.evidence)
        lines.append(f"  [{c.cohort or 'common'}] {c.kind} {c.id}: {c.result}  {detail}")
    return "\n".join(lines)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_scenario(path: Path, trials_by_id: dict[str, LoadedTrial]) -> None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    when = spec["on"] if "on" in spec else spec[True]  # YAML 1.1 reads a bare `on:` key as true
    on = when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when))
    trial = trials_by_id[path.parent.name]
    record = record_from_bundle(collection_bundle(build_resources(path.stem, spec, on)))
    report = Screener((trial,), load_catalog()).screen(record, on=on).trials[0]
    expected = spec["expect"]
    explanation = _explain(report, spec)
    assert report.status == expected["status"], explanation
    cohorts = {c.id: c.status for c in report.cohorts}
    for cohort, status in (expected.get("cohorts") or {}).items():
        assert cohorts[cohort] == status, f"cohort {cohort}\n{explanation}"
    results = {c.id: c.result for c in report.criteria}
    for criterion, result in (expected.get("criteria") or {}).items():
        assert results[criterion] == result, f"criterion {criterion}\n{explanation}"
