"""Byte-range partitions: every line of every file is read exactly once, whatever the cut points and blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.population import plan
from service.population.plan import Partition, plan_partitions, read_blocks


def read_lines(partition: Partition) -> list[bytes]:
    return [line for block, end in read_blocks(partition) for line in block[:end].split(b"\n")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.binary(min_size=0, max_size=30).map(lambda b: b.replace(b"\n", b"x")), max_size=40),
    step=st.integers(min_value=1, max_value=64),
    final_newline=st.booleans(),
    block=st.sampled_from([1, 2, 5, 16, plan.READ_BLOCK_BYTES]),
)
def test_partitions_read_every_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[bytes], step: int, final_newline: bool, block: int
) -> None:
    monkeypatch.setattr(plan, "READ_BLOCK_BYTES", block)  # lines longer than a block, cut by blocks
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    folder = tmp_path / f"export-{step}-{len(data)}-{final_newline}"
    folder.mkdir(exist_ok=True)
    (folder / "Observation.ndjson").write_bytes(data)
    partitions = plan_partitions(str(folder), step)
    assert [p.index for p in partitions] == list(range(len(partitions)))
    read = [line for partition in partitions for line in read_lines(partition)]
    expected = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        expected.pop()
    assert read == expected


def test_only_ndjson_files_in_name_order(tmp_path: Path) -> None:
    for name in ("Patient.ndjson", "Condition.ndjson", "README.txt", "Observation.ndjson.gz"):
        (tmp_path / name).write_bytes(b"{}\n")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in plan_partitions(str(tmp_path))] == ["Condition.ndjson", "Patient.ndjson"]


def test_fsspec_urls_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(b'{"a":1}\n{"b":2}\n')
    (partition,) = plan_partitions(f"file://{tmp_path}")
    assert list(read_lines(partition)) == [b'{"a":1}', b'{"b":2}']


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_a_large_file_is_cut_into_ranges(tmp_path: Path, step: int) -> None:
    (tmp_path / "Observation.ndjson").write_bytes(b"0123456789\n" * 10)
    partitions = plan_partitions(str(tmp_path), step)
    assert len(partitions) == -(-110 // step)
    assert partitions[-1].end == 110


def test_a_small_export_is_spread_over_min_partitions_but_not_below_a_mebibyte(tmp_path: Path) -> None:
    from service.population.plan import SMALLEST_SPREAD_BYTES

    (tmp_path / "Observation.ndjson").write_bytes(b"x" * (4 * SMALLEST_SPREAD_BYTES))
    (tmp_path / "Patient.ndjson").write_bytes(b"x" * 1000)
    sizes = [p.end - p.start for p in plan_partitions(str(tmp_path), 32 * SMALLEST_SPREAD_BYTES, min_partitions=4)]
    assert sizes == [-(-(4 * SMALLEST_SPREAD_BYTES + 1000) // 4)] * 3 + [4 * SMALLEST_SPREAD_BYTES - 3 * sizes[0], 1000]
    assert len(plan_partitions(str(tmp_path), 32 * SMALLEST_SPREAD_BYTES)) == 2
    assert len(plan_partitions(str(tmp_path), 32 * SMALLEST_SPREAD_BYTES, min_partitions=100)) == 5
