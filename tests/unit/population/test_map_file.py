"""Pass 1's map file: each bucket's section holds every patient of the partition once, their lines in file order
(a raw carriage return inside a line is JSON whitespace: it no longer splits the line in pass 2)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.fhir_access.bundle import record_from_grouped, record_from_resources
from service.population import shuffle
from service.population.buckets import BucketJob, _parsed, _shared_medications
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
            found[key] = [line.removesuffix(b"\n") for line in chunk]
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


def test_a_run_of_one_patients_lines_is_taken_whole_with_the_line_numbers_of_every_line(tmp_path: Path) -> None:
    """Lines after a scanned one that name the same patient are taken as a run (one copy of their bytes); the map
    file and the rejects' line numbers are those of a line-by-line pass."""
    lines = [_line("Observation", f"o{i}", "p1") for i in range(6)]
    lines += [_line("Observation", "o6", "p2"), _line("Condition", "c1", "p2"), _line("Observation", "o7", "p2")]
    lines += [_line("Observation", "o8", "p1"), _line("Observation", "o9", "p1")[:-3], b"", b"not JSON"]
    export = tmp_path / "export"
    export.mkdir()
    (export / "Observation.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    (partition,) = plan_partitions(str(export))
    taken: list[int] = []
    run_after = shuffle._run_after

    def spied(*args: Any) -> tuple[int, int, bytes]:
        found = run_after(*args)
        taken.append(found[1])
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shuffle, "_run_after", spied)
        result = split_partition(partition, str(tmp_path / "work"), buckets=1)
    assert taken[0] > 1  # lines after o0 taken as a run
    assert (result.lines, result.patients, result.rejected) == (13, 0, 2)
    ((p1, first), (p2, second)) = patient_chunks(read_section(str(tmp_path / "work"), 0, 0))
    assert (p1, p2) == (b"p1", b"p2")
    assert first == [UNVERIFIED + line + b"\n" for line in lines[:6] + lines[9:10]]
    assert second == [UNVERIFIED + line + b"\n" for line in lines[6:9]]
    rejects = [orjson.loads(line) for line in Path(str(result.rejects_file)).read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(11, "not JSON"), (13, "not JSON")]


def test_a_run_not_taken_is_looked_for_in_ever_shorter_spans_even_past_a_line_longer_than_the_window() -> None:
    """The span shrinks whatever the length of its last line (one longer than the window once kept it as long)."""
    first = _line("Observation", "o1", "p1")
    long = _line("Observation", "o2", "p1")[:-1] + b',"note":[{"text":"' + b"x" * (5 * shuffle.RUN_WINDOW) + b'"}]}'
    block = b"\n".join([first, _line("Condition", "c1", "p1"), long])
    assert shuffle._run_after(block, len(first), len(block), first, b"Patient/p1") == (-1, 0, b"")


_TEXT = st.characters(codec="utf-8", exclude_characters=",")  # whitespace goes after the commas between fields
_WHITESPACE = st.sampled_from([b"", b" ", b"\r", b"\t", b"\r\t "])
_RESOURCE = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(["Observation", "Condition", "Patient"]),
        "id": st.text(alphabet=_TEXT, max_size=8),
        "subject": st.fixed_dictionaries({"reference": st.sampled_from(["Patient/p1", "Patient/p2", "p1"])}),
        "note": st.text(alphabet=_TEXT, max_size=12),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(_RESOURCE, st.booleans(), _WHITESPACE), max_size=6), min_size=1, max_size=3))
def test_pass_two_reads_a_patients_lines_as_the_line_split_of_their_chunks(
    partitions: list[list[tuple[dict[str, Any], bool, bytes]]],
) -> None:
    """Each chunk's lines by newline only (a raw CR or tab between tokens is JSON whitespace; pass 1 strips the
    ends), marked or not: the resources, or None, are those of each line of `chunk.split(b"\\n")` and the checks."""
    chunks = [
        b"".join(
            (UNVERIFIED if marked else b"") + orjson.dumps(r).replace(b",", b"," + space) + b"\n"
            for r, marked, space in part
        )
        for part in partitions
    ]
    patients: list[dict[str, Any]] = []
    own: list[dict[str, Any]] = []
    expected: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = (patients, own)
    for part in partitions:
        for resource, marked, _ in part:
            if marked and (resource["resourceType"] == "Patient" or resource["subject"]["reference"] != "Patient/p1"):
                expected = None
            (patients if resource["resourceType"] == "Patient" and not marked else own).append(resource)
    lines = [line for chunk in chunks for line in chunk.split(b"\n")[:-1]]
    assert [orjson.loads(line) for line in lines] == [r for part in partitions for r, _, _ in part]
    found = _parsed(b"p1", [BytesIO(chunk).readlines() for chunk in chunks])
    assert (found if found is None else found[:2]) == (expected if expected is None else (patients, own))
    if found is not None and found[2] is not None:  # every line marked and of the usual form: grouped as kept
        patient = {"resourceType": "Patient", "id": "p1"}
        slow = record_from_resources(patient, own).resources
        assert [(k, list(v)) for k, v in record_from_grouped(patient, found[2]).resources.items()] == [
            (k, list(v)) for k, v in slow.items()
        ]


@pytest.mark.parametrize("run", [2, 40, 2000])
def test_the_window_grows_while_the_patient_is_named_past_it(run: int) -> None:
    """A run is taken up to the patient's last line whether it is far shorter than the window or longer."""
    first = _line("Observation", "o", "p1")
    mine = [_line("Observation", f"o{i}", "p1") for i in range(run)]
    others = [_line("Observation", f"x{i}", "p2") for i in range(2000)]
    block = b"\n".join([first, *mine, *others]) + b"\n"
    stop, count, taken = shuffle._run_after(block, len(first), len(block) - 1, first, b"Patient/p1")
    assert block[len(first) + 1 : stop].split(b"\n") == mine[:count]
    assert taken.split(b"\n") == [mine[0]] + [UNVERIFIED + line for line in mine[1:count]]
    assert count == run if len(b"\n".join(mine)) < shuffle.RUN_WINDOW else count > shuffle.RUN_WINDOW // 200


def test_a_line_that_names_no_patient_and_starts_otherwise_keeps_the_run_from_being_taken() -> None:
    """As many lines naming the patient as line starts, but one more line than either: not a run."""
    first = _line("Observation", "o", "p1")
    mine = [_line("Observation", "o1", "p1"), b'{"note":"no resourceType first"}', _line("Observation", "o2", "p1")]
    block = b"\n".join([first, *mine]) + b"\n"
    assert shuffle._run_after(block, len(first), len(block) - 1, first, b"Patient/p1") == (-1, 0, b"")
