"""Pass 2 groups a patient's resources by type as it parses them, when each line showed the exporter's usual
subject reference: the record it makes of them (record_from_grouped) is record_from_resources' of the same
resources, key order and resource order included, on every Synthea and demo patient."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bench.bulk_exports import write_demo_export, write_synthea_export
from service.fhir_access.bundle import record_from_resources
from service.fhir_access.record import PatientRecord
from service.population.buckets import BucketJob, _parsed, _record, _referenced, _shared_medications
from service.population.plan import plan_partitions
from service.population.shuffle import patient_chunks, read_section, split_partition

ON = dt.date(2026, 11, 1)
KEYS = ("demo-sle-eligible", "demo-ra-refractory", "demo-sle-pregnant")


def _layout(record: PatientRecord) -> tuple[Any, ...]:
    """Everything of a record, in order (dict equality alone ignores the order of its keys)."""
    return record.patient, [(kind, [id(r) for r in typed]) for kind, typed in record.resources.items()]


def test_the_grouped_record_is_record_from_resources(tmp_path: Path) -> None:
    export, work = tmp_path / "export", str(tmp_path / "work")
    write_synthea_export(export, 1)
    write_demo_export(export, KEYS, ON)
    partitions = plan_partitions(str(export))
    for partition in partitions:
        split_partition(partition, work, buckets=1)
    job = BucketJob(0, work, len(partitions), 1, None, None, frozenset(), None, None, "csv", {})
    medications = _shared_medications(job)
    grouped_lines: dict[bytes, list[list[bytes]]] = {}
    for partition in partitions:
        for key, lines in patient_chunks(read_section(work, partition.index, 0)):
            grouped_lines.setdefault(key, []).append(lines)
    fast = 0
    for key, chunks in grouped_lines.items():
        parsed = _parsed(key, chunks)
        assert parsed is not None
        patients, own, grouped = parsed
        slow = record_from_resources(patients[0], own + _referenced(own, medications))
        assert _layout(_record(patients[0], own, grouped, medications)) == _layout(slow), key
        fast += grouped is not None
    assert fast == len(grouped_lines) > 10  # every patient of these exports takes the grouped way
