"""A run that asks only for eligible / possibly-eligible outputs skips the reports of trials a patient is ruled out
of; its candidates, reports and feasibility counts are exactly those of a run that builds every report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.bulk_exports import read_candidates, write_demo_export, write_synthea_export
from service.demo.patients import demo_dir
from service.population.execution import InProcess
from service.population.run import Outputs, RunSummary, screen_population

ON = dt.date(2026, 11, 1)
EVERY = frozenset({"eligible", "possibly-eligible", "ineligible"})
KEPT = frozenset({"eligible", "possibly-eligible"})


def _run(export: Path, out: Path, statuses: frozenset[str]) -> tuple[RunSummary, list[dict[str, Any]], list[bytes]]:
    outputs = Outputs(
        rejects=str(out / "rejects.ndjson"),
        candidates=str(out / "candidates.csv"),
        reports=str(out / "reports"),
        statuses=statuses,
    )
    summary = screen_population(str(export), outputs, InProcess(None), work=str(out / "work"), on=ON.isoformat())
    reports = sorted(line for part in (out / "reports").glob("part-*") for line in part.read_bytes().splitlines())
    return summary, read_candidates(str(out / "candidates.csv"), "csv"), reports


def _without_time(line: bytes) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads(line)
    del report["evaluatedAt"]
    return report


@pytest.mark.parametrize("kind", ["synthea", "demo"])
def test_same_outputs_as_with_every_report(kind: str, tmp_path: Path) -> None:
    export = tmp_path / "export"
    if kind == "synthea":
        write_synthea_export(export, 2)
    else:
        write_demo_export(export, tuple(sorted(p.stem for p in demo_dir().glob("*.yaml"))), ON)
    full, full_rows, full_reports = _run(export, tmp_path / "full", EVERY)
    lean, lean_rows, lean_reports = _run(export, tmp_path / "lean", KEPT)
    assert lean.patients == full.patients > 10
    assert lean.feasibility == full.feasibility
    assert lean_rows == [row for row in full_rows if row["status"] in KEPT]
    assert lean_rows  # some patients are candidates
    kept = [r for r in map(_without_time, full_reports) if any(t["status"] in KEPT for t in r["trials"])]
    assert [_without_time(line) for line in lean_reports] == kept
