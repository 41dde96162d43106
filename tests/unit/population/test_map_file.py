"""Pass 1's map file: each bucket's section holds every patient of the partition once, their lines in file order
(a raw carriage return inside a line is JSON whitespace: it no longer splits the line in pass 2)."""

from __future__ import annotations

from pathlib import Path

import orjson

from service.population.buckets import BucketJob, _shared_medications
from service.population.plan import plan_partitions
from service.population.shuffle import UNVERIFIED, bucket_of, patient_chunks, read_section, split_partition


def _line(kind: str, ident: str, patient: str) -> bytes:
    return orjson.dumps({"resourceType": kind, "id": ident, "subject": {"reference": f"Patient/{patient}"}})


def test_a_patients_lines_come_back_together_in_file_order_whatever_their_id(tmp_path: Path) -> None:
    odd = "a\nb"  # not a valid FHIR id, but nothing in the file's layout may depend on that
    lines = [
        _line("Observation", "o1", "p1"),
        _line("Observation", "o2", odd),
        orjson.dumps({"resourceType": "Patient", "id": odd}),
        _line("Observation", "o3", "p1"),
        orjson.dumps(
            {"resourceType": "Observation", "id": "o4", "subject": {"reference": "Patient/p1"}},
            option=orjson.OPT_INDENT_2,
        ).replace(b"\n", b"\r"),
    ]
    export = tmp_path / "export"
    export.mkdir()
    (export / "Observation.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    (partition,) = plan_partitions(str(export))
    result = split_partition(partition, str(tmp_path / "work"), buckets=3)
    assert (result.lines, result.patients, result.rejected) == (5, 1, 0)
    found: dict[bytes, list[bytes]] = {}
    for bucket in range(3):
        for key, chunk in patient_chunks(read_section(str(tmp_path / "work"), 0, bucket)):
            assert bucket_of(key, 3) == bucket
            assert key not in found
            found[key] = chunk.split(b"\n")[:-1]
    assert found == {
        b"p1": [UNVERIFIED + lines[0], UNVERIFIED + lines[3], lines[4].strip()],
        odd.encode(): [lines[1], lines[2]],
    }


def test_a_medication_line_with_a_raw_carriage_return_is_read_whole(tmp_path: Path) -> None:
    """The Medications every bucket reads: a CR between a line's tokens must not cut it in two (every bucket of the
    run would fail on the half it cannot parse)."""
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "rituximab"}}
    export = tmp_path / "export"
    export.mkdir()
    (export / "Medication.ndjson").write_bytes(
        orjson.dumps(medication, option=orjson.OPT_INDENT_2).replace(b"\n", b"\r") + b"\n"
    )
    (partition,) = plan_partitions(str(export))
    split_partition(partition, str(tmp_path / "work"), buckets=2)
    job = BucketJob(0, str(tmp_path / "work"), 1, 2, None, None, frozenset(), None, None, "csv", {})
    assert _shared_medications(job) == {"m1": medication}
