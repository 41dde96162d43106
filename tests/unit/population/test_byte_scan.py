"""Pass 1 reads a line's patient from its bytes: the patient of its parse; a misleading line changes nothing."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.bulk_exports import write_demo_export, write_synthea_export
from service.population import run, shuffle
from service.population.execution import InProcess
from service.population.plan import Partition
from service.population.run import Outputs, RunSummary, screen_population
from service.population.shuffle import classify, reference_key, scanned_reference

ON = dt.date(2026, 11, 1)
KEYS = ("demo-sle-eligible", "demo-ra-refractory", "demo-sle-pregnant")


def test_the_scanned_patient_is_the_parsed_one_on_every_synthea_and_demo_line(tmp_path: Path) -> None:
    write_synthea_export(tmp_path, 1)
    write_demo_export(tmp_path, KEYS, ON)
    scanned = owned = 0
    for path in sorted(tmp_path.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            key, _, resource = classify(orjson.loads(line))
            reference = scanned_reference(line)
            found = reference_key(reference) if reference is not None else None
            if found is not None:
                assert found == key, (path.name, line[:200])
                scanned += 1
            owned += key is not None and resource is not None and resource["resourceType"] != "Patient"
    assert scanned == owned > 1000  # every line of a type screening reads but Patient: none parsed in pass 1


def _run(executor: InProcess, folder: Path, out: Path) -> RunSummary:
    outputs = Outputs(
        rejects=str(out / "rejects.ndjson"),
        candidates=str(out / "candidates.csv"),
        reports=str(out / "reports"),
        statuses=frozenset({"eligible", "possibly-eligible", "ineligible"}),
    )
    return screen_population(str(folder), outputs, executor, work=str(out / "work"), on=ON.isoformat())


def _outputs(out: Path) -> tuple[bytes, bytes, list[dict[str, object]]]:
    reports = [
        {k: v for k, v in orjson.loads(line).items() if k != "evaluatedAt"}
        for part in sorted((out / "reports").glob("part-*.ndjson"))
        for line in part.read_bytes().splitlines()
    ]
    return (out / "rejects.ndjson").read_bytes(), (out / "candidates.csv").read_bytes(), reports


def test_lines_whose_bytes_mislead_the_scan_give_the_outputs_of_a_run_that_parses_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "export"
    write_demo_export(folder, KEYS, ON)
    observations = folder / "Observation.ndjson"
    lines = observations.read_bytes().splitlines()
    # Not JSON, but its bytes look like a compact line of demo-sle-eligible's record.
    lines.insert(3, b'{"resourceType":"Condition","subject":{"reference":"Patient/demo-sle-eligible"},"code":}')
    # Its one compact-looking subject is a contained resource's; the resource's own (spaced) names another patient.
    lines.insert(
        9,
        b'{"resourceType":"Observation","id":"o-spaced","status":"final","code":{"text":"x"},'
        b'"contained":[{"resourceType":"Observation","subject":{"reference":"Patient/demo-ra-refractory"}}],'
        b'"subject" : {"reference":"Patient/demo-sle-pregnant"}}',
    )
    scanned = [scanned_reference(lines[3]), scanned_reference(lines[9])]
    assert scanned == [b"Patient/demo-sle-eligible", b"Patient/demo-ra-refractory"]
    observations.write_bytes(b"\n".join(lines) + b"\n")
    executor = InProcess(None)
    summary = _run(executor, folder, tmp_path / "scanned")
    monkeypatch.setattr(shuffle, "scanned_reference", lambda line: None)  # every line parsed in pass 1
    strict = _run(executor, folder, tmp_path / "strict")
    assert summary.rejected == strict.rejected == 1
    assert summary.patients == strict.patients == len(KEYS)
    assert summary.damaged_records == strict.damaged_records == {"demo-sle-eligible": 1}
    assert _outputs(tmp_path / "scanned") == _outputs(tmp_path / "strict")
    assert not summary.misread


def _demo_export_with(folder: Path, *inserted: tuple[int, bytes]) -> None:
    """The demo export with lines put into its Observation file, each at its index (in the order given)."""
    write_demo_export(folder, KEYS, ON)
    observations = folder / "Observation.ndjson"
    lines = observations.read_bytes().splitlines()
    for index, line in inserted:
        lines.insert(index, line)
    observations.write_bytes(b"\n".join(lines) + b"\n")


def _splits_seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each pass 1 of the runs to come was strict (True: pass 2 found a misread, the run was done again)."""
    splits: list[bool] = []
    split_partition = shuffle.split_partition

    def spied(partition: Partition, work: str, buckets: int, strict: bool = False) -> shuffle.SplitResult:
        splits.append(strict)
        return split_partition(partition, work, buckets, strict)

    monkeypatch.setattr(run, "split_partition", spied)
    return splits


def test_a_run_that_takes_another_patients_line_gives_the_outputs_of_a_run_that_parses_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 1 takes a run of lines for a patient by counts over its bytes: a line among them that names the patient
    only in a contained resource keeps the counts right, and pass 2 finds it (the run is done again, strict)."""
    folder = tmp_path / "export"
    _demo_export_with(
        folder,
        (
            5,
            b'{"resourceType":"Observation","id":"o-other","status":"final","code":{"text":"x"},'
            b'"contained":[{"resourceType":"Observation","subject":{"reference":"Patient/demo-sle-eligible"}}],'
            b'"subject":{"reference":"Patient/demo-ra-refractory"}}',
        ),
        (30, b"{broken"),  # its line number counts the lines of the runs before it
    )
    splits = _splits_seen(monkeypatch)
    executor = InProcess(None)
    summary = _run(executor, folder, tmp_path / "scanned")
    assert True in splits  # pass 2 found the line
    monkeypatch.setattr(shuffle, "scanned_reference", lambda line: None)
    strict = _run(executor, folder, tmp_path / "strict")
    assert summary.patients == strict.patients == len(KEYS)
    assert summary.first_rejects == strict.first_rejects
    assert strict.first_rejects[0].line == 31
    assert _outputs(tmp_path / "scanned") == _outputs(tmp_path / "strict")


@pytest.mark.parametrize("kind", [b"[1]", b'{"a":1}', b"null", b'"Encounter"'])
def test_a_line_whose_parse_gives_another_resource_type_is_rejected_not_its_bucket(
    tmp_path: Path, kind: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line whose bytes begin as a patient's Observation but whose parse gives another resourceType (a repeated
    key: the last one counts): pass 2 finds it, and the strict run rejects that line alone; every patient of its
    bucket is screened (it used to fail the whole bucket)."""
    folder = tmp_path / "export"
    _demo_export_with(
        folder,
        (
            3,
            b'{"resourceType":"Observation","id":"o-twice","status":"final",'
            b'"subject":{"reference":"Patient/demo-sle-eligible"},"resourceType":' + kind + b"}",
        ),
    )
    splits = _splits_seen(monkeypatch)
    summary = _run(InProcess(None), folder, tmp_path / "out")
    assert True in splits  # pass 2 found the line
    assert summary.errors == []
    assert not summary.failed_buckets
    assert summary.patients == len(KEYS)
    if kind == b'"Encounter"':  # a resource type screening does not read: left out, as any such line
        assert summary.rejected == 0
        assert summary.unread == 1
    else:
        assert [(r.line, r.reason) for r in summary.first_rejects] == [(4, "not a FHIR resource (no resourceType)")]


def test_an_export_not_grouped_by_patient_gives_the_outputs_of_a_run_that_parses_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file's lines dealt out in short stretches of one patient's lines, the patients interleaved: pass 1's
    runs (found by counts over the bytes) begin and end everywhere, and the outputs are still those of a run that
    parses every line."""
    folder = tmp_path / "export"
    write_synthea_export(folder, 2)
    write_demo_export(folder, KEYS, ON)
    deal = random.Random(7)
    for path in sorted(folder.glob("*.ndjson")):
        by_patient: dict[str | None, list[bytes]] = {}
        for line in path.read_bytes().splitlines():
            reference = scanned_reference(line)
            by_patient.setdefault(reference_key(reference) if reference else None, []).append(line)
        stacks = list(by_patient.values())
        dealt: list[bytes] = []
        while stacks:
            stack = deal.choice(stacks)
            stretch = deal.randint(1, 4)
            dealt += stack[:stretch]
            del stack[:stretch]
            stacks = [s for s in stacks if s]
        if path.name == "Observation.ndjson":
            dealt.insert(len(dealt) // 2, b"{broken")  # reported with the same line number either way
        path.write_bytes(b"\n".join(dealt) + b"\n")
    taken: list[int] = []
    run_after = shuffle._run_after

    def counted(*args: Any) -> tuple[int, int, bytes]:
        stop, count, lines = run_after(*args)
        taken.append(count)
        return stop, count, lines

    monkeypatch.setattr(shuffle, "_run_after", counted)
    executor = InProcess(None)
    summary = _run(executor, folder, tmp_path / "scanned")
    assert any(taken)  # runs were taken
    assert not all(taken)  # and refused
    monkeypatch.setattr(shuffle, "scanned_reference", lambda line: None)
    strict = _run(executor, folder, tmp_path / "strict")
    assert summary.patients == strict.patients > len(KEYS)
    assert summary.first_rejects == strict.first_rejects
    assert _outputs(tmp_path / "scanned") == _outputs(tmp_path / "strict")
