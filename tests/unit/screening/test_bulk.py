"""screen-bulk: a small Bulk FHIR export (3 patients, NDJSON per resource type) → one report line per patient."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import orjson
import yaml

from service.demo.builder import build_resources
from service.demo.patients import demo_dir
from service.screening.bulk import group_export, screen_export

ON = dt.date(2026, 11, 1)
KEYS = ("demo-sle-eligible", "demo-sle-neutropenia", "demo-ra-refractory")


def _write_export(directory: Path) -> dict[str, dict[str, str]]:
    """Writes the export; returns each patient's expected status per trial (from the demo files)."""
    expected: dict[str, dict[str, str]] = {}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for key in KEYS:
        spec = yaml.safe_load((demo_dir() / f"{key}.yaml").read_text(encoding="utf-8"))
        resources = build_resources(key, spec, ON)
        expected[f"Patient/{resources[0]['id']}"] = dict(spec.get("expect") or {})
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
    for kind, resources in by_type.items():
        name = f"{kind}_1.ndjson" if kind == "Observation" else f"{kind}.ndjson"  # $export may split files
        (directory / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    (directory / "Encounter.ndjson").write_bytes(b'{"resourceType":"Encounter","id":"e1"}\nnot json\n')
    return expected


def test_one_report_line_per_patient_and_summary_counts(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    expected = _write_export(export)
    out = io.BytesIO()
    summary = screen_export(export, out, spill=tmp_path / "spill", workers=1, on=ON)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(KEYS) == summary.patients
    assert sorted(line["patient"] for line in lines) == sorted(expected)
    counted: dict[tuple[str, str], int] = {}
    for line in lines:
        for trial in line["trials"]:
            counted[(trial["id"], trial["status"])] = counted.get((trial["id"], trial["status"]), 0) + 1
            want = expected[line["patient"]].get(trial["id"])
            if want is not None:
                assert trial["status"] == want, (line["patient"], trial["id"])
    assert dict(summary.by_trial) == counted
    assert sum(summary.by_trial.values()) == len(KEYS) * len(lines[0]["trials"])
    assert summary.errors == 0
    assert summary.group.skipped_lines == 2  # the Encounter (not read) and the line that is not JSON
    assert not any((tmp_path / "spill").iterdir())  # spill files are removed


def test_grouping_keeps_every_resource_of_a_patient_in_one_bucket(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    _write_export(export)
    buckets, _, stats = group_export(export, tmp_path / "spill", min_buckets=4)
    assert stats.patients == len(KEYS)
    where: dict[bytes, set[Path]] = {}
    for bucket in buckets:
        for line in bucket.read_bytes().splitlines():
            where.setdefault(line.split(b"\t", 1)[0], set()).add(bucket)
    assert len(where) == len(KEYS)
    assert all(len(found) == 1 for found in where.values())
