"""screen-bulk on a real Dask cluster: `dask scheduler` and two `dask worker` processes on loopback.

The export is built from the real Synthea bundles (ids rewritten per copy, a few hundred patients). The cluster's
reports must equal the single-machine run's patient by patient, also when a worker is killed in the middle of the
run (the scheduler reruns its tasks elsewhere; outputs written whole, so a rerun replaces, never appends).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.bulk_exports import read_candidates, write_synthea_export
from bench.fhir_server import free_port
from service.population.execution import DaskCluster, LocalPool
from service.population.run import Outputs, RunSummary, screen_population
from service.screening.screen import load_screener

pytestmark = pytest.mark.integration

ON = "2026-11-01"
COPIES = 20  # x 11 bundles = 220 patients, ~200 MB of NDJSON
EVERY_STATUS = frozenset({"eligible", "possibly-eligible", "ineligible"})
START_TIMEOUT_SECONDS = 60.0


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    logs: Path

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "dask"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    with log.open("wb") as out:
        return subprocess.Popen([str(exe), *args], stdout=out, stderr=subprocess.STDOUT, env=env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask-logs")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log=logs / "s.log")
    workers = [
        _dask(
            "worker",
            address,
            "--nthreads",
            "1",
            "--no-nanny",
            "--no-dashboard",
            "--name",
            f"w{i}",
            log=logs / f"w{i}.log",
        )
        for i in range(2)
    ]
    running = Cluster(address, scheduler, workers, logs)
    try:
        with Client(address, timeout=START_TIMEOUT_SECONDS) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_SECONDS)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("synthea-export")
    return folder, write_synthea_export(folder, COPIES)


def _outputs(out: Path) -> Outputs:
    return Outputs(
        rejects=str(out / "rejects.ndjson"),
        candidates=str(out / "candidates.csv"),
        reports=str(out / "reports"),
        statuses=EVERY_STATUS,
    )


def _reports(out: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in sorted((out / "reports").iterdir()):
        assert part.name.endswith(".ndjson"), part  # no temporary file left behind
        for line in part.read_bytes().splitlines():
            report = orjson.loads(line)
            assert report["patient"] not in found, f"{report['patient']} written twice"
            found[report["patient"]] = {k: v for k, v in report.items() if k != "evaluatedAt"}
    return found


def _candidates(out: Path) -> list[dict[str, Any]]:
    rows = read_candidates(str(out / "candidates.csv"), "csv")
    return sorted(rows, key=lambda row: (row["patient"], row["trial"], row["arm"]))


@pytest.fixture(scope="module")
def single_machine(export: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single")
    with closing(LocalPool(None)) as pool:  # the default: every core of this machine, no scheduler
        summary = screen_population(str(export[0]), _outputs(out), pool, work=str(out / "work"), on=ON)
    assert summary.patients == export[1]
    return out


def _on_cluster(cluster: Cluster, export: Path, out: Path, **options: Any) -> RunSummary:
    executor = DaskCluster(cluster.address, None, load_screener().versions())
    try:
        return screen_population(str(export), _outputs(out), executor, work=str(out / "work"), on=ON, **options)
    finally:
        executor.close()


def test_the_cluster_gives_the_single_machine_reports(
    cluster: Cluster, export: tuple[Path, int], single_machine: Path, tmp_path: Path
) -> None:
    summary = _on_cluster(cluster, export[0], tmp_path, min_buckets=8, partition_bytes=8 * 1024 * 1024)
    assert summary.patients == export[1]
    assert summary.error_count == 0
    assert summary.partitions > summary.files  # large files were read by byte range
    assert _reports(tmp_path) == _reports(single_machine)
    assert _candidates(tmp_path) == _candidates(single_machine)


def test_a_worker_killed_mid_run_loses_and_duplicates_no_patient(
    cluster: Cluster, export: tuple[Path, int], single_machine: Path, tmp_path: Path
) -> None:
    victim = cluster.workers[1]
    killed_at: list[int] = []

    def kill_during_screening(name: str, done: int, total: int) -> None:
        if name == "Screening patients" and not killed_at and 0 < done < total:
            victim.send_signal(signal.SIGKILL)
            killed_at.append(done)

    started = time.monotonic()
    summary = _on_cluster(cluster, export[0], tmp_path, min_buckets=16, progress=kill_during_screening)
    assert killed_at, "the run ended before a worker could be killed"
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert summary.patients == export[1], f"killed after {killed_at[0]} patients, {time.monotonic() - started:.0f} s"
    assert summary.error_count == 0
    assert _reports(tmp_path) == _reports(single_machine)
    assert _candidates(tmp_path) == _candidates(single_machine)


def test_the_command_runs_on_the_scheduler_named_in_the_environment(cluster: Cluster, tmp_path: Path) -> None:
    import datetime as dt

    from bench.bulk_exports import write_demo_export

    keys = ("demo-sle-eligible", "demo-ra-refractory", "demo-sle-pregnant")
    write_demo_export(tmp_path / "export", keys, dt.date.fromisoformat(ON))
    (tmp_path / "out" / "reports").mkdir(parents=True)
    (tmp_path / "out" / "reports" / "part-00999.ndjson").write_bytes(b"an earlier run's part\n")
    exe = Path(sys.executable).parent / "trial-screen"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    env["TRIAL_SCREEN_DASK_SCHEDULER"] = cluster.address
    result = subprocess.run(
        [
            str(exe),
            "screen-bulk",
            str(tmp_path / "export"),
            "--reports",
            str(tmp_path / "out" / "reports"),
            "--feasibility",
            str(tmp_path / "out" / "feasibility.html"),
            "--as-of",
            ON,
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "3 patient(s) screened" in result.stderr
    reports = _reports(tmp_path / "out")  # the earlier run's part is gone
    assert sorted(reports) == ["Patient/demo-ra-refractory", "Patient/demo-sle-eligible"]
