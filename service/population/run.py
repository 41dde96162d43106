"""The coordinator of a population run: plan, pass 1 (split), pass 2 (screen), then join what the workers wrote.

The same two passes run in this process, on a local process pool or on a Dask cluster (execution.py), so every
mode gives the same reports for the same export. Only small results travel back here: map offsets, counts,
the feasibility tally, the first rejects and errors. A partition that cannot be read stops the run (its
patients' records would be incomplete, and a missing exclusion could make a wrong "eligible"); a bucket that
fails to screen is reported and the run goes on.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from service.population.buckets import BucketJob, BucketResult, part_name, screen_bucket
from service.population.candidates import DEFAULT_STATUSES, join_parts
from service.population.execution import Executor
from service.population.feasibility import Feasibility
from service.population.plan import DEFAULT_PARTITION_BYTES, ExportError, Partition, plan_partitions
from service.population.shuffle import SplitResult, bucket_of, split_partition
from service.population.storage import filesystem, join, remove_tree

DEFAULT_BUCKET_BYTES = 32 * 1024 * 1024
FIRST_REJECTS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where the user pointed each output (local paths or fsspec URLs); None: not wanted."""

    rejects: str
    candidates: str | None = None
    reports: str | None = None  # a folder: one part file per bucket, written by the workers
    fmt: str = "csv"  # of the candidates: csv | parquet
    statuses: frozenset[str] = DEFAULT_STATUSES


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    reason: str


@dataclass
class RunSummary:
    files: int = 0
    partitions: int = 0
    buckets: int = 0
    lines: int = 0
    unread: int = 0  # lines of resource types screening does not read
    rejected: int = 0
    first_rejects: list[Reject] = field(default_factory=list)
    patient_resources: int = 0  # Patient resources found in pass 1: the total of pass 2
    patients: int = 0  # screened
    orphans: int = 0
    candidates: int = 0
    error_count: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (patient or bucket, error)
    failed_buckets: set[int] = field(default_factory=set)
    damaged_records: dict[str, int] = field(default_factory=dict)  # patient id → rejected lines that name it
    feasibility: Feasibility = field(default_factory=Feasibility)
    misread: bool = False  # pass 2 found a line whose bytes misled pass 1: the run is done again, strict
    seconds: float = 0.0


Progress = Callable[[str, int, int], None]  # (pass name, done, total)


def screen_population(
    export: str,
    outputs: Outputs,
    executor: Executor,
    *,
    work: str,
    on: str | None = None,
    trial_id: str | None = None,
    partition_bytes: int = DEFAULT_PARTITION_BYTES,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    min_buckets: int = 1,
    progress: Progress | None = None,
) -> RunSummary:
    """Screen every patient of `export`; `work` is scratch space every worker can reach (removed at the end).

    Pass 1 reads most lines' patients from their bytes; if pass 2 finds one that misled it, the run is done again
    with every line parsed in pass 1 (what a damaged export costs), so the outputs are those of a strict run.
    """
    started = time.perf_counter()
    partitions = plan_partitions(export, partition_bytes, min_buckets)
    total = sum(p.end - p.start for p in partitions)
    for strict in (False, True):
        summary = RunSummary(files=len({p.url for p in partitions}), partitions=len(partitions))
        summary.buckets = max(min_buckets, -(-total // max(1, bucket_bytes)), 1)
        _run(partitions, outputs, executor, work, summary, on, trial_id, strict, progress)
        if not summary.misread:
            break
    summary.seconds = time.perf_counter() - started
    return summary


def _run(
    partitions: list[Partition],
    outputs: Outputs,
    executor: Executor,
    work: str,
    summary: RunSummary,
    on: str | None,
    trial_id: str | None,
    strict: bool,
    progress: Progress | None,
) -> None:
    run_dir = join(work, f"run-{uuid.uuid4().hex}")
    try:
        splits = _split(partitions, run_dir, summary, executor, strict, progress)
        _write_rejects(splits, outputs.rejects, summary)
        if outputs.reports is not None:
            _remove(outputs.reports, "part-*.ndjson")
        jobs = _bucket_jobs(len(partitions), run_dir, outputs, summary, on, trial_id)
        _screen(jobs, summary, executor, progress)
        if summary.misread:
            return
        if outputs.reports is not None:
            _remove(outputs.reports, "*.tmp-*")  # left by a worker that died while writing
        if outputs.candidates is not None:
            screened = [j for j in jobs if j.index not in summary.failed_buckets]
            parts = [join(run_dir, "candidates", part_name(j.index, outputs.fmt)) for j in screened]
            join_parts(parts, outputs.candidates, outputs.fmt)
    finally:
        remove_tree(run_dir)


def _split(
    partitions: list[Partition],
    run_dir: str,
    summary: RunSummary,
    executor: Executor,
    strict: bool,
    progress: Progress | None,
) -> list[SplitResult]:
    total = sum(p.end - p.start for p in partitions)
    done = 0
    splits: list[SplitResult] = []
    # The largest first: a small file's partition last keeps the other workers from waiting on a large one.
    largest_first = sorted(partitions, key=lambda p: p.start - p.end)
    for partition, result in executor.run(
        functools.partial(split_partition, work=run_dir, buckets=summary.buckets, strict=strict), largest_first
    ):
        if isinstance(result, BaseException):
            where = f"{partition.name} bytes {partition.start}-{partition.end}"
            raise ExportError(f"{where} could not be read: {type(result).__name__}: {result}") from result
        splits.append(result)
        summary.lines += result.lines
        summary.unread += result.unread
        summary.rejected += result.rejected
        summary.patient_resources += result.patients
        done += partition.end - partition.start
        if progress is not None:
            progress("Reading and grouping by patient", done, total)
    return sorted(splits, key=lambda s: s.partition.index)


def _write_rejects(splits: list[SplitResult], target: str, summary: RunSummary) -> None:
    """Every rejected line with its line number in its file (lines of earlier partitions of that file added)."""
    if not summary.rejected:
        return
    before: dict[str, int] = {}
    fs, inner = filesystem(target)
    fs.makedirs(fs._parent(inner), exist_ok=True)
    with fs.open(inner, "wb") as out:
        for split in splits:
            offset = before.get(split.partition.url, 0)
            before[split.partition.url] = offset + split.lines
            if split.rejects_file is None:
                continue
            part_fs, part_inner = filesystem(split.rejects_file)
            for line in part_fs.cat_file(part_inner).splitlines():
                reject = orjson.loads(line)
                reject["line"] += offset
                if "patient" in reject:
                    summary.damaged_records[reject["patient"]] = summary.damaged_records.get(reject["patient"], 0) + 1
                out.write(orjson.dumps(reject) + b"\n")
                if len(summary.first_rejects) < FIRST_REJECTS_SHOWN:
                    summary.first_rejects.append(Reject(reject["file"], reject["line"], reject["reason"]))


def _remove(folder: str, pattern: str) -> None:
    """Files of the reports folder that are not this run's: an earlier run's parts, temporary files."""
    fs, inner = filesystem(folder)
    if fs.isdir(inner):
        for path in fs.glob(join(inner, pattern)):
            fs.rm(path)


def _bucket_jobs(
    partitions: int, run_dir: str, outputs: Outputs, summary: RunSummary, on: str | None, trial_id: str | None
) -> list[BucketJob]:
    buckets = summary.buckets
    damaged: list[dict[str, int]] = [{} for _ in range(buckets)]
    for patient, count in summary.damaged_records.items():
        damaged[bucket_of(patient.encode(), buckets)][patient] = count
    return [
        BucketJob(
            index=b,
            work=run_dir,
            partitions=partitions,
            buckets=buckets,
            on=on,
            trial_id=trial_id,
            statuses=outputs.statuses,
            reports=outputs.reports,
            candidates=join(run_dir, "candidates") if outputs.candidates is not None else None,
            fmt=outputs.fmt,
            damaged=damaged[b],
        )
        for b in range(buckets)
    ]


def _screen(jobs: list[BucketJob], summary: RunSummary, executor: Executor, progress: Progress | None) -> None:
    done = 0
    for job, result in executor.run(screen_bucket, jobs):
        if isinstance(result, BaseException):
            summary.error_count += 1
            summary.errors.append((f"bucket {job.index}", f"{type(result).__name__}: {result}"[:300]))
            summary.failed_buckets.add(job.index)
            continue
        _absorb(result, summary)
        done += result.patients + result.error_count
        if progress is not None:
            progress("Screening patients", done, summary.patient_resources)


def _absorb(result: BucketResult, summary: RunSummary) -> None:
    summary.misread |= result.misread
    summary.patients += result.patients
    summary.orphans += result.orphans
    summary.candidates += result.candidates
    summary.error_count += result.error_count
    summary.errors.extend(result.errors)
    summary.feasibility.merge(result.feasibility)
