"""Pass 2 (reduce side of the shuffle): one bucket's patients screened, its outputs written as part files.

A bucket is its section of every map file. Lines are grouped by patient as bytes and parsed one patient at a
time, so memory holds one bucket's raw lines plus one patient's resources. Outputs go to part files named by
the bucket (written whole: a retried bucket replaces them); what comes back to the coordinator is small
(counts, the feasibility tally, errors).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from service.fhir_access.bundle import record_from_grouped, record_from_resources
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import ResourceType
from service.population.candidates import candidate_rows, encode_rows
from service.population.feasibility import Feasibility
from service.population.shuffle import OWNED_TYPES, SHARED_TYPE, UNVERIFIED, classify, patient_chunks, read_section
from service.population.storage import join, write_replacing
from service.population.trial_plan import Screened, from_outcomes, plans
from service.population.worker import current_screener
from service.screening.screen import Screener, screening_report

MAX_ERRORS_KEPT = 20
_MARK = UNVERIFIED[0]
_PATIENT, _MEDICATION = str(ResourceType.PATIENT), str(SHARED_TYPE)  # plain strings: a StrEnum compares slower
_OWNED_NAMES = frozenset(map(str, OWNED_TYPES))
_medications: dict[str, dict[str, dict[str, Any]]] = {}


@dataclass(frozen=True, slots=True)
class BucketJob:
    index: int
    work: str  # where the map files are
    partitions: int  # how many map files
    buckets: int  # the Medication section comes after the buckets' sections
    on: str | None
    trial_id: str | None
    statuses: frozenset[str]  # which statuses make a candidate row (and a report line)
    reports: str | None  # folder of report part files, or None
    candidates: str | None  # folder of candidate part files, or None
    fmt: str  # csv | parquet
    damaged: dict[str, int]  # patient id → lines of their record that were rejected (their record is incomplete)


@dataclass
class BucketResult:
    index: int
    patients: int = 0
    orphans: int = 0  # patient ids with resources but no Patient resource
    candidates: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (patient reference, error), the first few
    error_count: int = 0
    feasibility: Feasibility = field(default_factory=Feasibility)
    misread: bool = False  # a line's bytes named another patient than its parse: the run is done again, strict


def part_name(index: int, suffix: str) -> str:
    return f"part-{index:05d}.{suffix}"


def _shared_lines(job: BucketJob) -> Iterator[bytes]:
    for partition in range(job.partitions):  # each line ends with a newline; a raw CR inside one is JSON whitespace
        yield from read_section(job.work, partition, job.buckets).split(b"\n")[:-1]


def _shared_medications(job: BucketJob) -> dict[str, dict[str, Any]]:
    """The export's Medication resources by id, read once per worker process and run."""
    if job.work not in _medications:
        _medications.clear()
        loaded = (orjson.loads(line) for line in _shared_lines(job))
        _medications[job.work] = {m["id"]: m for m in loaded if m.get("resourceType") == SHARED_TYPE and "id" in m}
    return _medications[job.work]


def _referenced(resources: list[dict[str, Any]], medications: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for resource in resources:
        ref = resource.get("medicationReference")
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(reference, str) and not reference.startswith("#"):
            ident = reference.split("/_history/", 1)[0].rsplit("/", 1)[-1]
            if ident in medications:
                found[ident] = medications[ident]
    return list(found.values())


def screen_bucket(job: BucketJob) -> BucketResult:
    screener = current_screener()
    medications = _shared_medications(job)
    on = dt.date.fromisoformat(job.on) if job.on else None
    grouped: dict[bytes, list[list[bytes]]] = {}  # patient id → their lines of each partition
    for partition in range(job.partitions):
        for key, lines in patient_chunks(read_section(job.work, partition, job.index)):
            grouped.setdefault(key, []).append(lines)
    with _collector_paused():
        result, reports, rows = _screen_patients(job, grouped, screener, medications, on)
    result.candidates = len(rows)
    if result.misread:  # the run is done again
        return result
    if job.reports is not None:
        write_replacing(join(job.reports, part_name(job.index, "ndjson")), b"".join(r + b"\n" for r in reports))
    if job.candidates is not None:
        write_replacing(join(job.candidates, part_name(job.index, job.fmt)), encode_rows(rows, job.fmt))
    return result


Answers = list[Screened]  # one patient's, per trial in the screener's order


def _has_status(answers: Answers, statuses: frozenset[str]) -> bool:
    return any(a.status in statuses for a in answers)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic collector off while a bucket is screened, then one young-generation pass.

    A patient's thousands of short-lived objects die by reference counting; with the collector on, its
    periodic passes cost ~15 % of the screening CPU for nothing. The cycles a bucket leaves are collected at its
    end, so memory stays bounded by the bucket.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def _screen_patients(
    job: BucketJob,
    grouped: dict[bytes, list[list[bytes]]],
    screener: Screener,
    medications: dict[str, dict[str, Any]],
    on: dt.date | None,
) -> tuple[BucketResult, list[bytes], list[dict[str, Any]]]:
    result = BucketResult(job.index)
    reports: list[bytes] = []
    rows: list[dict[str, Any]] = []
    feasibility = result.feasibility
    trial_plans = plans(screener.select(job.trial_id))  # once per bucket: the same for every patient
    for key in sorted(grouped):
        parsed = _parsed(key, grouped.pop(key))
        if parsed is None:
            result.misread = True
            break
        patients, own, grouped_own = parsed
        if not patients:
            result.orphans += 1
            continue
        reference = f"Patient/{key.decode()}"
        try:
            if len(patients) > 1:
                raise ValueError(f"{len(patients)} Patient resources share this id")
            record = _record(patients[0], own, grouped_own, medications)
            now = dt.datetime.now(dt.UTC)
            evaluations = screener.evaluations(record, on=on or now.date(), trial_id=job.trial_id)
            # the counts and rows read every criterion's outcome (trial_plan.py); a report is built only when written
            answers = [from_outcomes(p, t, e.all()) for p, (t, e) in zip(trial_plans, evaluations, strict=True)]
        except Exception as exc:  # one bad record must not stop a population run
            result.error_count += 1
            if len(result.errors) < MAX_ERRORS_KEPT:
                result.errors.append((reference, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        result.patients += 1
        feasibility.patients += 1
        for answer in answers:
            feasibility.add(answer)
        if job.candidates is not None:
            damaged = job.damaged.get(key.decode(), 0)
            rows.extend(candidate_rows(record.reference, answers, patients[0], own, job.statuses, damaged))
        if job.reports is not None and _has_status(answers, job.statuses):  # from the same evaluations, not again
            reports.append(orjson.dumps(screening_report(record, now, evaluations).to_json()))
    return result, reports, rows


Parsed = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[dict[str, Any]]] | None]


def _record(
    patient: dict[str, Any],
    own: list[dict[str, Any]],
    grouped: dict[str, list[dict[str, Any]]] | None,
    medications: dict[str, dict[str, Any]],
) -> PatientRecord:
    """The patient's record: from their resources as `_parsed` grouped them when it could, else by
    record_from_resources; the Medications they reference with them."""
    referenced = _referenced(own, medications) if medications else []
    if grouped is None:
        return record_from_resources(patient, own + referenced if referenced else own)
    if referenced:
        grouped[_MEDICATION] = referenced
    return record_from_grouped(patient, grouped)


def _parsed(key: bytes, chunks: list[list[bytes]]) -> Parsed | None:
    """(A patient's Patient resources, their other resources, the latter grouped by type when each one's parse
    showed the exporter's usual `"subject":{"reference":"Patient/<key>"}` (or `"patient"`), else None) from their
    lines of each partition (each line ends with a newline); None if a line pass 1 did not parse is not JSON or is
    not this patient's. The grouping is what record_from_resources would keep of them (record_from_grouped)."""
    patients: list[dict[str, Any]] = []
    own: list[dict[str, Any]] = []
    grouped: dict[str, list[dict[str, Any]]] | None = {}
    local = f"Patient/{key.decode()}"
    loads = orjson.loads
    for chunk in chunks:
        for payload in chunk:  # the newline left on each is JSON whitespace, as is the mark
            if payload[0] != _MARK:
                resource = loads(payload)
                if resource["resourceType"] == _PATIENT:
                    patients.append(resource)
                else:
                    own.append(resource)
                    grouped = None
                continue
            try:
                resource = loads(payload)
            except orjson.JSONDecodeError:
                return None
            # _owned_by's usual case inline (a call a line): the exporter's `"subject":{"reference":…}` (or patient)
            ref = resource.get("subject")
            if ref is None:
                ref = resource.get("patient")
            if (
                type(ref) is dict
                and ref.get("reference") == local
                and type(kind := resource.get("resourceType")) is str  # a repeated key may give a list: unhashable
                and kind in _OWNED_NAMES
            ):
                if grouped is not None:
                    try:
                        grouped[kind].append(resource)
                    except KeyError:
                        grouped[kind] = [resource]
            elif _owned_by(resource, local):
                grouped = None
            else:
                return None
            own.append(resource)
    return patients, own, grouped


def _owned_by(resource: dict[str, Any], local: str) -> bool:
    """Whether the patient pass 1 read from a line's bytes (`Patient/<key>`) is the one its parse gives, for a line
    whose parse is not of the usual form (_parsed reads that one inline)."""
    kind = resource.get("resourceType")
    if type(kind) is not str or kind not in OWNED_TYPES:  # not a string (a repeated key): a misread, not an error
        return False
    owner, _, _ = classify(resource)
    return owner is not None and f"Patient/{owner}" == local
