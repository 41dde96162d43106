"""Population pre-screening over a Bulk FHIR export (`$export` NDJSON), memory bounded, on all cores.

Two passes, never the whole export in memory:

1. Group: every `*.ndjson` file is streamed line by line; each line goes, unparsed, into one of B bucket
   spill files chosen by a hash of its patient id (Patient.id, or the `subject` / `patient` reference).
   Medication resources belong to no patient; they go to one shared spill file (read by every worker:
   an export's Medication list is small next to its clinical resources).
   B is chosen so that one bucket stays well under `bucket_bytes` (default 64 MB).
2. Screen: a process pool (one screener per process, trials loaded once) takes one bucket at a time,
   groups its lines by patient, screens each patient and hands back one NDJSON report line per patient.

Lines whose patient cannot be told (no subject/patient reference) or that are not JSON are counted and skipped.
Resources of a patient without a Patient resource in the export are skipped too (counted).
"""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from service.fhir_access.bundle import record_from_resources
from service.fhir_access.record import READ_TYPES

DEFAULT_BUCKET_BYTES = 64 * 1024 * 1024
_WANTED = frozenset({"Patient", *READ_TYPES})
_SHARED = "Medication"


@dataclass
class GroupStats:
    files: int = 0
    lines: int = 0
    bytes: int = 0
    patients: int = 0
    skipped_lines: int = 0  # not JSON, or no patient to file them under, or a type we do not read


@dataclass
class BulkSummary:
    patients: int = 0
    orphan_patients: int = 0  # resources under a patient id that has no Patient resource
    errors: int = 0  # patients whose resources could not be screened (bad data)
    by_trial: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trial id, status) -> patients
    group: GroupStats = field(default_factory=GroupStats)
    seconds: float = 0.0


def export_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(".ndjson"))


def _patient_key(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        ident = resource.get("id")
        return ident if isinstance(ident, str) and ident else None
    ref = resource.get("subject")
    if ref is None:
        ref = resource.get("patient")
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(reference, str):
        return None
    reference = reference.split("/_history/", 1)[0]
    if "Patient/" not in reference:
        return None
    return reference.rsplit("Patient/", 1)[1] or None


def group_export(
    directory: Path,
    spill: Path,
    *,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    min_buckets: int = 1,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[list[Path], Path, GroupStats]:
    """Pass 1: stream the export into bucket files of `<patient id>\\t<resource json>` lines."""
    files = export_files(directory)
    stats = GroupStats(files=len(files))
    total = sum(p.stat().st_size for p in files)
    count = max(min_buckets, -(-total // max(1, bucket_bytes)), 1)
    spill.mkdir(parents=True, exist_ok=True)
    paths = [spill / f"bucket-{i:05d}.tsv" for i in range(count)]
    shared_path = spill / "shared-medications.ndjson"
    handles: list[BinaryIO] = [p.open("wb", buffering=1 << 20) for p in paths]
    try:
        with shared_path.open("wb") as shared:
            for path in files:
                with path.open("rb") as source:
                    for line in source:
                        stats.bytes += len(line)
                        if on_bytes is not None and stats.lines % 2048 == 0:
                            on_bytes(stats.bytes)
                        line = line.strip()
                        if not line:
                            continue
                        stats.lines += 1
                        try:
                            resource = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            stats.skipped_lines += 1
                            continue
                        if not isinstance(resource, dict) or resource.get("resourceType") not in _WANTED:
                            stats.skipped_lines += 1
                            continue
                        if resource["resourceType"] == _SHARED:
                            shared.write(line + b"\n")
                            continue
                        key = _patient_key(resource)
                        if key is None or "\t" in key:
                            stats.skipped_lines += 1
                            continue
                        if resource["resourceType"] == "Patient":
                            stats.patients += 1
                        encoded = key.encode()
                        handles[zlib.crc32(encoded) % count].write(encoded + b"\t" + line + b"\n")
    finally:
        for handle in handles:
            handle.close()
    if on_bytes is not None:
        on_bytes(stats.bytes)
    return paths, shared_path, stats


# ---------------------------------------------------------------- workers

_screener: Any = None
_medications: dict[str, dict[str, Any]] = {}


def _init_worker(trials_dir: str | None, shared_path: str) -> None:
    global _screener, _medications
    from service.gc_tuning import tune_for_serving
    from service.screening.screen import load_screener

    _screener = load_screener(Path(trials_dir) if trials_dir else None)
    _medications = {}
    with open(shared_path, "rb") as shared:
        for line in shared:
            resource = orjson.loads(line)
            if isinstance(resource.get("id"), str):
                _medications[resource["id"]] = resource
    tune_for_serving()


def _referenced_medications(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for resource in resources:
        ref = resource.get("medicationReference")
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(reference, str) and not reference.startswith("#"):
            ident = reference.split("/_history/", 1)[0].rsplit("/", 1)[-1]
            if ident not in seen and ident in _medications:
                seen.add(ident)
                yield _medications[ident]


@dataclass
class BucketResult:
    lines: list[bytes]
    statuses: Counter[tuple[str, str]]
    patients: int
    orphans: int
    errors: int


def screen_bucket(path: str, on_iso: str | None, trial_id: str | None) -> BucketResult:
    """Pass 2 for one bucket: group its lines by patient, screen each, one report line per patient."""
    on = dt.date.fromisoformat(on_iso) if on_iso else None
    patients: dict[str, dict[str, Any]] = {}
    resources: dict[str, list[dict[str, Any]]] = {}
    with open(path, "rb") as bucket:
        for line in bucket:
            key, _, payload = line.partition(b"\t")
            resource = orjson.loads(payload)
            ident = key.decode()
            if resource.get("resourceType") == "Patient":
                patients[ident] = resource
            else:
                resources.setdefault(ident, []).append(resource)
    result = BucketResult([], Counter(), 0, 0, 0)
    result.orphans = sum(1 for ident in resources if ident not in patients)
    for ident in sorted(patients):
        own = resources.pop(ident, [])
        own.extend(_referenced_medications(own))
        try:
            record = record_from_resources(patients[ident], own)
            report = _screener.screen_json(record, on=on, trial_id=trial_id)
        except Exception as exc:  # one bad record must not stop a population run
            result.errors += 1
            result.lines.append(orjson.dumps({"patient": f"Patient/{ident}", "error": type(exc).__name__}))
            continue
        result.patients += 1
        for trial in report["trials"]:
            result.statuses[(trial["id"], trial["status"])] += 1
        result.lines.append(orjson.dumps(report))
    return result


def screen_export(
    directory: Path,
    out: BinaryIO,
    *,
    spill: Path,
    workers: int | None = None,
    trials_dir: Path | None = None,
    on: dt.date | None = None,
    trial_id: str | None = None,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    progress: Any = None,
) -> BulkSummary:
    """Group, then screen every patient of the export; writes NDJSON report lines to `out`.

    `progress`: a rich Progress (or None); two tasks are added, one per pass.
    """
    import time

    started = time.perf_counter()
    workers = max(1, workers or os.cpu_count() or 1)
    summary = BulkSummary()
    group_task = None
    if progress is not None:
        total = sum(p.stat().st_size for p in export_files(directory))
        group_task = progress.add_task("Grouping by patient", total=total)
    paths, shared, stats = group_export(
        directory,
        spill,
        bucket_bytes=bucket_bytes,
        min_buckets=workers * 4,
        on_bytes=(lambda n: progress.update(group_task, completed=n)) if progress is not None else None,
    )
    summary.group = stats
    screen_task = progress.add_task("Screening patients", total=stats.patients) if progress is not None else None

    def absorb(result: BucketResult) -> None:
        for line in result.lines:
            out.write(line + b"\n")
        summary.patients += result.patients
        summary.orphan_patients += result.orphans
        summary.errors += result.errors
        summary.by_trial.update(result.statuses)
        if progress is not None:
            progress.advance(screen_task, result.patients + result.errors)

    args = (None if on is None else on.isoformat(), trial_id)
    if workers == 1:
        _init_worker(str(trials_dir) if trials_dir else None, str(shared))
        for path in paths:
            absorb(screen_bucket(str(path), *args))
    else:
        with ProcessPoolExecutor(
            max_workers=workers,
            initializer=_init_worker,
            initargs=(str(trials_dir) if trials_dir else None, str(shared)),
        ) as pool:
            futures = [pool.submit(screen_bucket, str(path), *args) for path in paths]
            for future in as_completed(futures):
                absorb(future.result())
    for path in (*paths, shared):
        path.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    return summary
