"""`trial-screen screen-bulk` as a coordinator runs it: a real process with its worker pool, files, exit codes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bench.bulk_exports import read_candidates, write_demo_export
from service.cli import app
from service.population.candidates import COLUMNS

ON = dt.date(2026, 11, 1)
KEYS = ("demo-sle-eligible", "demo-ra-refractory", "demo-sle-pregnant")
runner = CliRunner()


def _trial_screen(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "trial-screen"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    return subprocess.run(
        [str(exe), "screen-bulk", *args, "--as-of", ON.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_a_run_writes_candidates_reports_feasibility_and_rejects(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_demo_export(export, KEYS, ON)
    with (export / "Condition.ndjson").open("ab") as out:
        out.write(b"{truncated\n")
    lines = len((export / "Condition.ndjson").read_bytes().splitlines())
    out = tmp_path / "out"
    result = _trial_screen(
        str(export),
        "--candidates",
        str(out / "candidates.csv"),
        "--reports",
        str(out / "reports"),
        "--feasibility",
        str(out / "feasibility.html"),
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "3 patient(s) screened" in result.stderr
    assert f"Condition.ndjson:{lines}: not JSON" in result.stderr
    header = (out / "candidates.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS)
    rows = read_candidates(str(out / "candidates.csv"), "csv")
    assert {row["patient"] for row in rows} == {"Patient/demo-sle-eligible", "Patient/demo-ra-refractory"}
    reports = [
        orjson.loads(line)
        for part in (out / "reports").glob("part-*.ndjson")
        for line in part.read_bytes().splitlines()
    ]
    assert sorted(r["patient"] for r in reports) == ["Patient/demo-ra-refractory", "Patient/demo-sle-eligible"]
    rejects = [orjson.loads(line) for line in (out / "rejects.ndjson").read_bytes().splitlines()]
    assert [(r["file"], r["line"]) for r in rejects] == [("Condition.ndjson", lines)]
    page = (out / "feasibility.html").read_text(encoding="utf-8")
    assert "plotly-graph-div" in page
    assert "<script src" not in page
    assert "cdn" not in page.lower().split("</script>")[-1]


def test_parquet_candidates_with_a_status_filter(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_demo_export(export, KEYS, ON)
    target = tmp_path / "candidates.parquet"
    result = _trial_screen(
        str(export), "--candidates", str(target), "--format", "parquet", "--status", "ineligible", "--workers", "1"
    )
    assert result.returncode == 0, result.stderr
    rows = read_candidates(str(target), "parquet")
    assert rows
    assert {row["status"] for row in rows} == {"ineligible"}
    assert any(row["patient"] == "Patient/demo-sle-pregnant" for row in rows)


@pytest.mark.parametrize("kind", ["missing", "empty", "no-patients"])
def test_nothing_to_screen_exits_non_zero_with_one_line(tmp_path: Path, kind: str) -> None:
    export = tmp_path / "export"
    if kind != "missing":
        export.mkdir()
    if kind == "no-patients":
        (export / "Observation.ndjson").write_bytes(b"garbage\n")
    result = runner.invoke(app, ["screen-bulk", str(export), "--candidates", str(tmp_path / "c.csv"), "--workers", "1"])
    assert result.exit_code == 1
    message = result.output.strip().splitlines()[-1]  # after the progress bars, when there were lines to read
    assert message.startswith(f"{export}: ")
    assert {"missing": "no such folder", "empty": "no *.ndjson files", "no-patients": "no patients found"}[
        kind
    ] in message


def test_an_output_is_required(tmp_path: Path) -> None:
    result = runner.invoke(app, ["screen-bulk", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing to write" in result.output


def test_a_cluster_needs_scratch_space_every_worker_reaches(tmp_path: Path) -> None:
    args = ["screen-bulk", str(tmp_path), "--candidates", "c.csv", "--scheduler", "tcp://127.0.0.1:1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "--work is required" in result.output
