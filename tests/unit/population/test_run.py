"""A population run in this process over a small export of demo patients: reports, candidates, rejects, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.bulk_exports import read_candidates, write_demo_export
from service.fhir_access.bundle import record_from_resources
from service.population import buckets
from service.population.buckets import BucketJob
from service.population.execution import InProcess
from service.population.plan import ExportError
from service.population.run import Outputs, RunSummary, screen_population
from service.population.shuffle import bucket_of
from service.screening.screen import load_screener

ON = dt.date(2026, 11, 1)
KEYS = ("demo-sle-eligible", "demo-sle-neutropenia", "demo-ra-refractory", "demo-sle-pregnant")
ALL = frozenset({"eligible", "possibly-eligible", "ineligible"})


@pytest.fixture(scope="module")
def executor() -> InProcess:
    return InProcess(None)


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    folder = tmp_path / "export"
    return folder, write_demo_export(folder, KEYS, ON)


def _run(
    executor: InProcess, folder: Path, out: Path, statuses: frozenset[str] = ALL, fmt: str = "csv", **options: Any
) -> RunSummary:
    outputs = Outputs(
        rejects=str(out / "rejects.ndjson"),
        candidates=str(out / f"candidates.{fmt}"),
        reports=str(out / "reports"),
        fmt=fmt,
        statuses=statuses,
    )
    return screen_population(str(folder), outputs, executor, work=str(out / "work"), on=ON.isoformat(), **options)


def _reports(folder: Path) -> dict[str, dict[str, Any]]:
    lines = [
        orjson.loads(line) for part in sorted(folder.glob("part-*.ndjson")) for line in part.read_bytes().splitlines()
    ]
    return {line["patient"]: line for line in lines}


def _without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "evaluatedAt"}


def test_every_patient_gets_the_report_screen_json_gives(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    folder, expected = export
    summary = _run(executor, folder, tmp_path / "out", partition_bytes=4096, bucket_bytes=2048)
    assert summary.partitions > 6  # files were cut into byte ranges
    assert summary.patients == len(KEYS)
    assert summary.error_count == summary.rejected == 0
    reports = _reports(tmp_path / "out" / "reports")
    assert sorted(reports) == sorted(expected)
    screener = load_screener()
    for line in (folder / "Patient.ndjson").read_bytes().splitlines():
        patient = orjson.loads(line)
        own = [
            orjson.loads(other)
            for path in folder.glob("*.ndjson")
            if path.name != "Patient.ndjson"
            for other in path.read_bytes().splitlines()
            if f'"Patient/{patient["id"]}"'.encode() in other
        ]
        direct = screener.screen_json(record_from_resources(patient, own), on=ON)
        assert _without_time(reports[f"Patient/{patient['id']}"]) == _without_time(direct)
    for patient, trials in expected.items():
        for trial in reports[patient]["trials"]:
            if trial["id"] in trials:
                assert trial["status"] == trials[trial["id"]], (patient, trial["id"])
    assert not (tmp_path / "out" / "work").exists() or not any((tmp_path / "out" / "work").iterdir())


def test_the_partitioning_does_not_change_the_answer(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    folder, _ = export
    _run(executor, folder, tmp_path / "a", partition_bytes=1 << 30, bucket_bytes=1 << 30)
    _run(executor, folder, tmp_path / "b", partition_bytes=1000, bucket_bytes=500, min_buckets=7)
    first, second = _reports(tmp_path / "a" / "reports"), _reports(tmp_path / "b" / "reports")
    assert {k: _without_time(v) for k, v in first.items()} == {k: _without_time(v) for k, v in second.items()}

    def rows(out: str) -> list[dict[str, Any]]:
        found = read_candidates(str(tmp_path / out / "candidates.csv"), "csv")
        return sorted(found, key=lambda row: (row["patient"], row["trial"], row["arm"]))

    assert rows("a") == rows("b")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_candidates_one_row_per_patient_trial_and_arm_asked_for(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path, fmt: str
) -> None:
    folder, _ = export
    statuses = frozenset({"eligible", "possibly-eligible"})
    summary = _run(executor, folder, tmp_path / "out", statuses=statuses, fmt=fmt)
    rows = read_candidates(str(tmp_path / "out" / f"candidates.{fmt}"), fmt)
    assert len(rows) == summary.candidates > 0
    reports = _reports(tmp_path / "out" / "reports")
    wanted = set()
    for report in reports.values():
        for trial in report["trials"]:
            for cohort in trial["cohorts"] or [{"id": "", "status": trial["status"]}]:
                if cohort["status"] in statuses:
                    wanted.add((report["patient"], trial["id"], cohort["id"], cohort["status"]))
    assert {(r["patient"], r["trial"], r["arm"], r["status"]) for r in rows} == wanted
    eligible = next(r for r in rows if r["patient"] == "Patient/demo-sle-eligible")
    assert eligible["name"]
    assert eligible["birth_date"]
    assert eligible["latest_evidence"] >= "2026-"
    for row in rows:
        trial = next(t for t in reports[row["patient"]]["trials"] if t["id"] == row["trial"])
        criteria = [c for c in trial["criteria"] if c["cohort"] in (None, row["arm"] or None)]
        missing = list(dict.fromkeys(m for c in criteria if c["result"] == "unknown" for m in c["missing"]))
        assert (row["missing_count"], row["missing"]) == (len(missing), " | ".join(missing))
        assert (row["status"] == "eligible") <= (row["missing_count"] == 0)
    pregnant = [r for r in rows if r["patient"] == "Patient/demo-sle-pregnant"]
    assert pregnant == []  # ineligible everywhere: no row, and no report line under this filter
    assert "Patient/demo-sle-pregnant" not in reports


def test_bad_lines_are_rejected_with_file_and_line_number(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    folder, _ = export
    observations = folder / "Observation.ndjson"
    lines = observations.read_bytes().splitlines()
    lines.insert(5, b"not json {")
    lines.insert(40, b'{"resourceType":"Observation","id":"o-no-subject","status":"final"}')
    lines.insert(41, b"")
    lines.insert(60, b'["an array"]')
    lines.insert(70, b'{"resourceType":"Condition","subject":{"reference":"Patient/demo-sle-eligible"},"code":{')
    observations.write_bytes(b"\n".join(lines) + b"\n")
    (folder / "Encounter.ndjson").write_bytes(b'{"resourceType":"Encounter","id":"e1"}\n')
    summary = _run(executor, folder, tmp_path / "out", partition_bytes=2048)
    assert summary.rejected == 4
    assert summary.unread == 1
    found = [(r.file, r.line, r.reason) for r in summary.first_rejects]
    assert found == [
        ("Observation.ndjson", 6, "not JSON"),
        ("Observation.ndjson", 41, "no patient (no subject or patient reference)"),
        ("Observation.ndjson", 61, "not a FHIR resource (no resourceType)"),
        ("Observation.ndjson", 71, "not JSON"),
    ]
    written = [orjson.loads(line) for line in (tmp_path / "out" / "rejects.ndjson").read_bytes().splitlines()]
    assert [(r["file"], r["line"], r["reason"]) for r in written] == found
    assert written[0]["text"] == "not json {"
    assert written[3]["patient"] == "demo-sle-eligible"  # a damaged line still says whose record it was part of
    assert summary.damaged_records == {"demo-sle-eligible": 1}
    rows = read_candidates(str(tmp_path / "out" / "candidates.csv"), "csv")
    assert {r["patient"] for r in rows if r["rejected_lines"]} == {"Patient/demo-sle-eligible"}
    assert summary.patients == len(KEYS)  # the good lines are all screened


def test_a_missing_or_empty_export_is_an_error(executor: InProcess, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such folder"):
        _run(executor, tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an export")
    with pytest.raises(ExportError, match=r"no \*\.ndjson files"):
        _run(executor, tmp_path / "empty", tmp_path / "out")


def test_a_patient_that_cannot_be_screened_is_reported_and_the_rest_go_on(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    folder, _ = export
    with (folder / "Patient.ndjson").open("ab") as out:  # the same Patient twice: which one is meant?
        out.write(next(iter((folder / "Patient.ndjson").read_bytes().splitlines())) + b"\n")
    summary = _run(executor, folder, tmp_path / "out")
    assert summary.patients == len(KEYS) - 1
    assert summary.error_count == 1
    assert summary.errors[0][0].startswith("Patient/")
    assert "share this id" in summary.errors[0][1]


def test_a_failing_bucket_is_reported_and_the_others_are_screened(
    export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.population.run as run

    folder, _ = export
    real = buckets.screen_bucket

    def failing(job: BucketJob) -> Any:
        if job.index == 0:
            raise OSError("disk full")
        return real(job)

    monkeypatch.setattr(run, "screen_bucket", failing)
    summary = _run(InProcess(None), folder, tmp_path / "out", min_buckets=4)
    assert ("bucket 0", "OSError: disk full") in summary.errors
    assert summary.failed_buckets == {0}
    lost = [key for key in KEYS if bucket_of(key.encode(), summary.buckets) == 0]
    assert lost
    assert summary.patients == len(KEYS) - len(lost)


def test_a_retried_bucket_replaces_its_output(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.population.run as run

    folder, _ = export
    jobs: list[BucketJob] = []
    real = buckets.screen_bucket

    def twice(job: BucketJob) -> Any:
        jobs.append(job)
        real(job)  # as if the worker died after writing: the retry writes the same parts again
        return real(job)

    monkeypatch.setattr(run, "screen_bucket", twice)
    summary = _run(executor, folder, tmp_path / "out", min_buckets=2)
    assert summary.patients == len(KEYS)
    assert len(_reports(tmp_path / "out" / "reports")) == len(KEYS)
    lines = sum(len(p.read_bytes().splitlines()) for p in (tmp_path / "out" / "reports").glob("part-*"))
    assert lines == len(KEYS)
    assert len(read_candidates(str(tmp_path / "out" / "candidates.csv"), "csv")) == summary.candidates
    assert not list((tmp_path / "out" / "reports").glob("*.tmp-*"))


def test_export_outputs_and_scratch_may_be_fsspec_urls(
    executor: InProcess, export: tuple[Path, dict[str, dict[str, str]]]
) -> None:
    import fsspec

    folder, expected = export
    memory = fsspec.filesystem("memory")
    for path in folder.iterdir():
        memory.pipe_file(f"/export-{id(folder)}/{path.name}", path.read_bytes())
    base = f"memory://run-{id(folder)}"
    outputs = Outputs(
        rejects=f"{base}/out/rejects.ndjson",
        candidates=f"{base}/out/candidates.parquet",
        reports=f"{base}/out/reports",
        fmt="parquet",
        statuses=ALL,
    )
    summary = screen_population(
        f"memory://export-{id(folder)}", outputs, executor, work=f"{base}/work", on=ON.isoformat(), partition_bytes=4096
    )
    assert summary.patients == len(KEYS)
    parts = memory.glob(f"/run-{id(folder)}/out/reports/part-*.ndjson")
    patients = {orjson.loads(line)["patient"] for part in parts for line in memory.cat_file(part).splitlines()}
    assert patients == set(expected)
    with memory.open(f"/run-{id(folder)}/out/candidates.parquet", "rb") as source:
        import pyarrow.parquet as pq

        assert {row["patient"] for row in pq.read_table(source).to_pylist()} == set(expected)
    assert not memory.exists(f"/run-{id(folder)}/work") or not memory.ls(f"/run-{id(folder)}/work")


def test_a_criterion_that_fails_is_recorded_with_its_trial_criterion_and_position(
    executor: InProcess,
    export: tuple[Path, dict[str, dict[str, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.facts.patient_facts import PatientFacts

    def broken(self: PatientFacts, *args: Any) -> Any:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(PatientFacts, "latest", broken)
    folder, _ = export
    summary = _run(executor, folder, tmp_path / "out")
    assert summary.error_count == len(KEYS)
    reference, error = summary.errors[0]
    assert reference.startswith("Patient/")
    assert error.startswith("EvaluationError: ")
    assert ".trial:" in error
    assert ", criterion " in error
    assert error.endswith("ZeroDivisionError: float division by zero")
